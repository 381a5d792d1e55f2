#!/usr/bin/python3
# postgresql-psycopg.py HOST DBNAME USER PASSWORD: psycopg 3 with server-side prepared statements
# (prepare=True: Parse of a named statement once, then Bind/Execute), parameters in binary (%b) and in
# text (%t), a duplicate key error in the extended protocol. Ground truth: pcaps/README.md.
import datetime
import sys
import uuid

import psycopg

host, dbname, user, password = sys.argv[1:5]
with psycopg.connect(host=host, port=5432, dbname=dbname, user=user, password=password,
                     application_name="psm-psycopg", autocommit=True) as conn:
    conn.execute("CREATE TABLE orders (id int8 PRIMARY KEY, customer text, paid bool, amount float8, qty int2,"
                 " ref uuid, placed timestamp, blob bytea, note varchar(40), rating float4, code int4)")
    insert = "INSERT INTO orders VALUES (%b, %b, %b, %b, %b, %b, %b, %b, %b, %b, %b)"
    rows = [
        (1, "alice", True, 19.5, 2, uuid.UUID("6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"),
         datetime.datetime(2026, 11, 26, 10, 30, 0), b"\x00\x01\xfe\xff", "first order", 4.5, 100),
        (2, "bob", False, 0.25, 1, uuid.UUID("00000000-0000-4000-8000-000000000002"),
         datetime.datetime(2026, 11, 26, 11, 0, 0, 250000), b"TEST", "second", -1.0, -7),
        (3, "carol", True, 1e6, 300, uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"),
         datetime.datetime(1999, 12, 31, 23, 59, 59), b"", None, 0.0, 2147483647),
    ]
    for r in rows:
        conn.execute(insert, r, prepare=True)
    try:
        conn.execute(insert, rows[0], prepare=True)   # id 1 again: unique violation
    except psycopg.errors.UniqueViolation as e:
        print("error", e.sqlstate)
    cur = conn.execute("SELECT id, customer FROM orders WHERE paid = %t OR id > %t ORDER BY id", (True, 1), prepare=True)
    print("rows", len(cur.fetchall()))
    cur = conn.execute("SELECT id, customer FROM orders WHERE paid = %t OR id > %t ORDER BY id", (False, 2), prepare=True)
    cur.fetchall()
    conn.execute("UPDATE orders SET paid = %b WHERE customer = %t", (True, "bob"), prepare=True)
    conn.execute("DROP TABLE orders")
