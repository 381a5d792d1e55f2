DELIMITER //
SELECT COUNT(*) FROM orders; UPDATE orders SET total = total * 2 WHERE id = 1; SELECT customer FROM orders WHERE id < 3//
DELIMITER ;
