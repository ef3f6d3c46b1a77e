-- The queries of locking.rs, each after its `-- name:` line.

-- name: held
-- The relation locks this session's transaction holds, outside the system
-- schemas, TOAST and the host's own ledger: (relation, is an index, mode).
-- Read from pg_lock_status(), the function under the pg_locks view: the
-- view's planning was 0.84 of this read's 1.05 ms, the function's 0.2.
SELECT n.nspname || '.' || c.relname, c.relkind IN ('i', 'I'), l.mode
  FROM pg_catalog.pg_lock_status() l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'rollout_ledger')
   AND n.nspname NOT LIKE 'pg\_toast%'

-- name: blockers
-- Other sessions holding a lock in modes $2 on relations $1 (schema.name)
-- or their indexes: pid, application, state, query start, how long their
-- transaction has been open (ms), an empty column where their query was
-- (never read: it reaches the plugin), the relation and the mode.
SELECT DISTINCT ON (l.pid) l.pid, COALESCE(a.application_name, ''), COALESCE(a.state, 'unknown state'),
       COALESCE(to_char(a.query_start, 'YYYY-MM-DD HH24:MI:SS TZ'), 'unknown'),
       COALESCE((extract(epoch FROM pg_catalog.clock_timestamp() - a.xact_start) * 1000)::int8, 0),
       '', n.nspname || '.' || c.relname, l.mode
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
   AND l.mode = ANY ($2::text[])
   AND (n.nspname || '.' || c.relname = ANY ($1::text[])
        OR c.oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i
                       JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
                       JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
                      WHERE tn.nspname || '.' || t.relname = ANY ($1::text[])))
 ORDER BY l.pid
 LIMIT 10
