SELECT customer, total FROM orders WHERE id = 2;
SHOW TABLES;
