-- The queries of footprint.rs, each after its `-- name:` line.

-- name: files
-- The tables $1 (schema.name) and their indexes, with the file each is
-- stored in: (oid, relation, is an index, relfilenode). A rewrite gives a
-- relation a new file.
SELECT c.oid::int8, n.nspname || '.' || c.relname, c.relkind IN ('i', 'I'), c.relfilenode::int8
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname || '.' || c.relname = ANY ($1::text[])
    OR c.oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i
                   JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
                   JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
                  WHERE tn.nspname || '.' || t.relname = ANY ($1::text[]))

-- name: waiters
-- Other sessions waiting for a relation lock that session $1 holds or is
-- queued ahead of them for: (relation, waiting pid, how long it has waited).
SELECT n.nspname || '.' || c.relname, w.pid,
       COALESCE((extract(epoch FROM pg_catalog.clock_timestamp() - w.waitstart) * 1000)::int8, 0)
  FROM pg_catalog.pg_locks w
  JOIN pg_catalog.pg_class c ON c.oid = w.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE w.locktype = 'relation' AND NOT w.granted AND $1::int4 = ANY (pg_catalog.pg_blocking_pids(w.pid))

-- name: own
-- The relation locks session $1 holds, as `held` in sql/locking.sql reads
-- its own: (relation, is an index, mode). The sampler reads them for a
-- concurrent tier, whose steps run outside a transaction and keep no lock
-- past their statement.
SELECT n.nspname || '.' || c.relname, c.relkind IN ('i', 'I'), l.mode
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = $1::int4 AND l.locktype = 'relation' AND l.granted
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'rollout_ledger')
   AND n.nspname NOT LIKE 'pg\_toast%'
