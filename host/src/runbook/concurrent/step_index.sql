-- An index by its quoted `schema.name`: its names as the catalog has them,
-- whether it is valid, another backend building it now (pid, or 0), and
-- its table as `schema.name` (the form of a grant line), and its oid (which
-- says whether a build made it or found it).
SELECT n.nspname::text, c.relname::text, i.indisvalid,
       coalesce((SELECT p.pid FROM pg_catalog.pg_stat_progress_create_index p
                 WHERE p.index_relid = c.oid AND p.pid <> pg_catalog.pg_backend_pid() LIMIT 1), 0),
       tn.nspname::text || '.' || t.relname::text, c.oid::int8
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
WHERE c.oid = pg_catalog.to_regclass($1)
