-- Grants no manifest may hold, as PostgreSQL itself decides them on a fresh
-- server: the objects of pg_catalog and information_schema it does not let
-- PUBLIC use, and the large-object functions. dangerous.txt is this
-- query's output on the server the tests run (`class schema.name`, one a
-- line); tests/dangerous.rs fails when the two differ. Regenerate with:
--   psql -AtX -f host/src/manifest/dangerous.sql > host/src/manifest/dangerous.txt
--
-- superuser:    functions PUBLIC may not EXECUTE (server files and programs,
--               configuration, logs, WAL, backups, replication, statistics
--               resets); PostgreSQL gives them to superusers and to the roles
--               they grant (pg_read_server_files, pg_monitor, …). A name is
--               listed when any of its overloads is.
-- large-object: the large-object functions (lo_*, loread, lowrite): their
--               data lives outside every table a grant names.
-- catalog:      relations PUBLIC may not SELECT: password hashes, sampled
--               column values, user mappings, subscriptions' connection
--               strings, configuration files.
WITH functions AS (
  SELECT p.proname,
         bool_or(NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                             WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')) AS not_public,
         bool_or(p.prosrc ~ '^be_lo') AS large_object
  FROM pg_catalog.pg_proc p
  WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
  GROUP BY p.proname
), listed AS (
  SELECT CASE WHEN not_public THEN 'superuser' ELSE 'large-object' END AS class, 'pg_catalog.' || proname AS name
  FROM functions WHERE not_public OR large_object
  UNION ALL
  SELECT 'catalog', n.nspname || '.' || c.relname
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('pg_catalog', 'information_schema')
    AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
                    WHERE a.grantee = 0 AND a.privilege_type = 'SELECT')
)
SELECT class || ' ' || name FROM listed ORDER BY class, name COLLATE "C";
