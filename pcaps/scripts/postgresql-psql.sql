-- postgresql-psql: typed by psql -f, one Query message per statement (the "\;" line: two statements in one)
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(10,2));
INSERT INTO accounts VALUES (1, 'alice', 100.00), (2, 'bob', 250.50), (3, 'carol', 75.25), (4, 'dave', 0), (5, 'erin', 1200);
UPDATE accounts SET balance = 0;
DELETE FROM accounts WHERE id = 4;
SELECT id, owner, balance FROM accounts ORDER BY id;
SELECT count(*) FROM accounts \; SELECT current_user;
SELECT * FROM payroll;
GRANT SELECT ON accounts TO bob;
DROP TABLE accounts;
