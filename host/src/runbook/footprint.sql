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
-- Other sessions session $1 makes wait, whatever lock they wait for (a
-- relation, a row: `tuple`, or the tier's transaction id when they wait to
-- change a row it changed), directly or in a lock queue: a session that
-- waits behind another waiter (C queued behind B's request, B waiting on
-- the tier) waits on the tier too. (relation, waiting pid, how long it has
-- waited, its application_name, the lock type, the waiter it queues behind
-- or NULL when the tier itself blocks it). The relation is the waited
-- lock's, else the one of a row lock the waiter holds (a session waiting on
-- a row takes the row's tuple lock first), else NULL: the host names that
-- "row locks". pg_blocking_pids runs once per waiting session.
WITH RECURSIVE blocked AS (
    SELECT p.pid, pg_catalog.pg_blocking_pids(p.pid) AS by
      FROM (SELECT DISTINCT pid FROM pg_catalog.pg_locks WHERE NOT granted AND pid <> $1::int4) p
),
queue (pid, behind) AS (
    SELECT b.pid, NULL::int4 FROM blocked b WHERE $1::int4 = ANY (b.by)
    UNION
    SELECT b.pid, q.pid FROM blocked b JOIN queue q ON q.pid = ANY (b.by) AND q.pid <> b.pid
),
chain AS (
    SELECT pid, CASE WHEN bool_or(behind IS NULL) THEN NULL ELSE min(behind) END AS behind
      FROM queue GROUP BY pid
)
SELECT COALESCE(
         (SELECT n.nspname || '.' || c.relname
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE c.oid = w.relation AND w.database = d.oid),
         (SELECT n.nspname || '.' || c.relname
            FROM pg_catalog.pg_locks t
            JOIN pg_catalog.pg_class c ON c.oid = t.relation
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE t.pid = w.pid AND t.locktype = 'tuple' AND t.granted AND t.database = d.oid
           ORDER BY 1 LIMIT 1)),
       w.pid,
       COALESCE((extract(epoch FROM pg_catalog.clock_timestamp() - w.waitstart) * 1000)::int8, 0),
       COALESCE((SELECT a.application_name FROM pg_catalog.pg_stat_activity a WHERE a.pid = w.pid), ''),
       w.locktype,
       q.behind
  FROM pg_catalog.pg_locks w
  JOIN chain q ON q.pid = w.pid,
       (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) d
 WHERE NOT w.granted

-- name: own
-- The relation locks session $1 holds, as `held` in sql/locking.sql reads
-- its own: (relation, is an index, mode). The sampler reads them for a
-- concurrent tier, whose steps run outside a transaction and keep no lock
-- past their statement; prepared once on the control connection.
SELECT n.nspname || '.' || c.relname, c.relkind IN ('i', 'I'), l.mode
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = $1::int4 AND l.locktype = 'relation' AND l.granted
   AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'rollout_ledger')
   AND n.nspname NOT LIKE 'pg\_toast%'
