-- Accounts and the database of the mysql-* captures (TEST-ONLY passwords), run over the socket as root.
CREATE DATABASE shop;
CREATE USER 'alice'@'%' IDENTIFIED BY 'Wonderland1';
GRANT ALL PRIVILEGES ON shop.* TO 'alice'@'%' WITH GRANT OPTION;
GRANT CREATE USER, SELECT ON *.* TO 'alice'@'%';   -- a global privilege: a missing database is then 'Unknown database'
CREATE USER 'bob'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('Builder22');
GRANT SELECT ON shop.* TO 'bob'@'%';
CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(40), total DECIMAL(10,2), placed DATE);
INSERT INTO shop.orders VALUES (1, 'ada', 12.50, '2024-01-02'), (2, 'grace', 99.00, '2024-02-03'), (3, 'linus', 5.25, '2024-03-04');
