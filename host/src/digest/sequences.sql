-- Every sequence of the schemas $1 (NULL: every user schema, all but pg_*
-- and the host's own, $3) with its definition and its position,
-- in one statement. A position is in no catalog, only in the sequence's
-- own row: table_to_xml reads that row (last_value, is_called) for each
-- sequence the WHERE keeps, so the host never builds SQL text from a name.
-- Reading it needs SELECT on the sequence and takes ACCESS SHARE on it.
-- With $2, a sequence another session holds in ACCESS EXCLUSIVE mode is
-- left out instead of waited on: a tier's own open transaction holds it so
-- when it drops the sequence's table or resets it transactionally (TRUNCATE
-- … RESTART IDENTITY), and reading it would wait on that very transaction.
-- Names are quoted by the server (quote_ident).
SELECT name, seqstart, seqmin, seqmax, seqincrement, seqcycle,
       (pg_catalog.xpath('/*/last_value/text()', x))[1]::text::bigint,
       (pg_catalog.xpath('/*/is_called/text()', x))[1]::text::boolean
  FROM (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
               s.seqstart, s.seqmin, s.seqmax, s.seqincrement, s.seqcycle,
               pg_catalog.table_to_xml(c.oid::regclass, false, true, '') AS x
          FROM pg_catalog.pg_sequence s
          JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE CASE WHEN $1::text[] IS NULL THEN n.nspname !~ '^pg_' AND NOT (n.nspname = ANY ($3::text[]))
                    ELSE n.nspname = ANY ($1::text[]) END
           AND NOT ($2 AND EXISTS (
                 SELECT FROM pg_catalog.pg_locks l
                  WHERE l.locktype = 'relation' AND l.relation = c.oid AND l.granted
                    AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_catalog.pg_backend_pid()
                    AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                                       WHERE d.datname = pg_catalog.current_database())))
         OFFSET 0) q
 ORDER BY 1
