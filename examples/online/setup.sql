-- The online example's database (`shop`): one million orders, each of one
-- of 10,000 customers. Used by `make bench` (the writer workload runs on
-- it while a change is made) and tests/online.rs.
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO shop.customers SELECT g, 'customer ' || g FROM generate_series(1, 10000) g;
CREATE TABLE shop.orders (
    id          bigint PRIMARY KEY,
    customer_id integer NOT NULL,
    amount      numeric(12, 2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO shop.orders (id, customer_id, amount, created_at)
SELECT g, 1 + (g::bigint * 7919) % 10000, (g % 997) + 0.5, timestamptz '2026-01-01' + g * interval '1 second'
FROM generate_series(1, :rows) g;
ANALYZE shop.customers;
ANALYZE shop.orders;
