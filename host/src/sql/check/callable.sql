-- The names `alias.name` could call as `name(alias)` (attribute notation):
-- every pg_catalog function that can be called with exactly one argument.
-- The checker's list (callable.txt) is this query's output on the server the
-- tests run; tests/grants.rs fails when the two differ. Regenerate with:
--   psql -AtX -f host/src/sql/check/callable.sql > host/src/sql/check/callable.txt
SELECT DISTINCT proname
FROM pg_catalog.pg_proc
WHERE pronamespace = 'pg_catalog'::pg_catalog.regnamespace
  AND pronargs >= 1
  AND pronargs - pronargdefaults <= 1
ORDER BY 1;
