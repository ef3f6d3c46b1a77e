-- Every sequence of the schemas $1 (NULL: every user schema, all but pg_*
-- and the host's own, $3) with its definition and its position, in one
-- statement. A position is in no catalog, only in the sequence's own row:
-- table_to_xml reads that row (last_value, is_called) for each sequence
-- the WHERE keeps, so the host never builds SQL text from a name. Reading
-- it needs SELECT on the sequence and takes ACCESS SHARE on it. With $5
-- false (a server built without libxml: table_to_xml fails with
-- "unsupported XML feature") no position is read here: the host reads them
-- in a second statement of its own (sequences/read.rs).
--
-- $2 false: every position is read (waiting for a lock that blocks it).
-- $2 true (the sequence watch): a sequence some other session holds in
-- ACCESS EXCLUSIVE mode is not read, never waited on, and comes back with
-- what holds it: `other_pid` (a session that is not $4, the work session),
-- `step_exclusive` (the work session's own open transaction: it drops the
-- sequence or its table, or resets it transactionally), `step_rewrites`
-- (the work session holds it in a mode that can rewrite it at COMMIT:
-- SHARE ROW EXCLUSIVE for ALTER SEQUENCE, EXCLUSIVE, ACCESS EXCLUSIVE). The
-- caller decides what each means; none is skipped here.
-- Names are quoted by the server (quote_ident); the raw names and the oid
-- come too, so SQL the host prints can name the sequence by its oid.
WITH held AS MATERIALIZED (
  SELECT l.relation, l.pid, l.mode
    FROM pg_catalog.pg_locks l
   WHERE $2 AND l.locktype = 'relation' AND l.granted
     AND l.mode IN ('ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
     AND l.pid <> pg_catalog.pg_backend_pid()
     AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()))
SELECT name, seqstart, seqmin, seqmax, seqincrement, seqcycle,
       (pg_catalog.xpath('/*/last_value/text()', x))[1]::text::bigint,
       (pg_catalog.xpath('/*/is_called/text()', x))[1]::text::boolean,
       oid, nspname, relname, other_pid, step_exclusive, step_rewrites
  FROM (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
               s.seqstart, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle,
               c.oid, n.nspname::text, c.relname::text, k.other_pid,
               coalesce(k.step_exclusive, false) AS step_exclusive,
               coalesce(k.step_rewrites, false) AS step_rewrites,
               CASE WHEN $5 AND k.other_pid IS NULL AND k.step_exclusive IS NOT TRUE
                    THEN pg_catalog.table_to_xml(c.oid::regclass, false, true, '') END AS x
          FROM pg_catalog.pg_sequence s
          JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN LATERAL (
                SELECT min(h.pid) FILTER (WHERE h.mode = 'AccessExclusiveLock' AND h.pid IS DISTINCT FROM $4)
                         AS other_pid,
                       bool_or(h.mode = 'AccessExclusiveLock') FILTER (WHERE h.pid = $4) AS step_exclusive,
                       bool_or(true) FILTER (WHERE h.pid = $4) AS step_rewrites
                  FROM held h WHERE h.relation = c.oid) k ON true
         WHERE CASE WHEN $1::text[] IS NULL THEN n.nspname !~ '^pg_' AND NOT (n.nspname = ANY ($3::text[]))
                    ELSE n.nspname = ANY ($1::text[]) END
         OFFSET 0) q
 ORDER BY 1
