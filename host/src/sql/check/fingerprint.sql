-- What the checker's catalog lists (callable.sql, names.sql) are derived
-- from, hashed: every pg_catalog function's oid, name, kind, argument and
-- result types, defaults and variadic, and every pg_catalog type named
-- reg…. The same rows give the same lists, so a server whose fingerprint is
-- the one the lists built into the host were read with (catalog-built.txt)
-- has exactly those lists, and the host reads them in full (tens of ms)
-- only from a server that differs (another version, a function added).
SELECT pg_catalog.concat_ws(' ', pg_catalog.count(*), pg_catalog.sum(pg_catalog.hashtextextended(
         pg_catalog.concat_ws(' ', p.oid, p.proname, p.prokind, p.pronargs, p.pronargdefaults, p.provariadic,
                              p.prorettype, p.proargtypes), 1)),
       (SELECT pg_catalog.concat_ws(' ', pg_catalog.count(*), pg_catalog.sum(pg_catalog.hashtextextended(
                 pg_catalog.concat_ws(' ', t.oid, t.typname, t.typcategory, t.typlen), 1)))
        FROM pg_catalog.pg_type t
        WHERE t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace AND t.typname ~ '^reg'))
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace;
