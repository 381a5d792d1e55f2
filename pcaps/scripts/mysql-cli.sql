CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price INT);
INSERT INTO items VALUES (1, 'apple', 3), (2, 'pear', 4), (3, 'plum', 5);
UPDATE items SET price = price + 1;
DELETE FROM items WHERE id = 2;
SELECT id, name, price FROM items ORDER BY id;
SELECT * FROM no_such_table;
GRANT SELECT ON shop.items TO 'bob'@'%';
DROP TABLE items;
