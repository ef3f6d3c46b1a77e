-- The same change as the online plan, the way it is often written: one
-- transaction of plain DDL and one UPDATE. Every statement holds its lock
-- until COMMIT, so the writers wait for all of it. `make bench` times the
-- writers during this beside the host's run of examples/online.
BEGIN;
ALTER TABLE shop.orders ADD COLUMN region text;
UPDATE shop.orders SET region = (ARRAY['north', 'south', 'east', 'west'])[customer_id % 4 + 1];
ALTER TABLE shop.orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES shop.customers (id);
CREATE INDEX orders_region_idx ON shop.orders (region);
COMMIT;
