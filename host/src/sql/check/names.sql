-- The arguments of pg_catalog functions that name an object, one row each:
-- function|fewest arguments|most arguments|argument (0-based)|kind. The kind
-- is the reg* type that argument takes (nextval's regclass, to_tsvector's
-- regconfig), the reg* type a lookup returns from a name given as text
-- (to_regclass, regclass(text)), or `oid` for a name as text where another
-- overload of the same arity takes the object's oid (has_table_privilege).
-- The checker's list (names.txt) is this query's output on the server the
-- tests run; tests/classes.rs fails when the two differ; a run reads it from
-- the server it runs against. Regenerate with:
--   psql -AtX -f host/src/sql/check/names.sql > host/src/sql/check/names.txt
WITH reg AS (
  SELECT oid, typname FROM pg_catalog.pg_type
  WHERE typnamespace = 'pg_catalog'::pg_catalog.regnamespace AND typname ~ '^reg' AND typcategory = 'N'
    AND typlen = 4
), fn AS MATERIALIZED (
  SELECT p.oid, p.proname, p.prokind, p.prorettype, p.pronargs - p.pronargdefaults AS fewest,
         CASE WHEN p.provariadic <> 0 THEN 100 ELSE p.pronargs END AS most, a.pos - 1 AS pos, a.t
  FROM pg_catalog.pg_proc p, pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) WITH ORDINALITY a(t, pos)
  WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
), by_oid AS (
  SELECT DISTINCT proname, most, pos FROM fn WHERE t = 'oid'::pg_catalog.regtype AND prokind = 'f'
), named AS (
  SELECT fn.proname, fn.fewest, fn.most, fn.pos, reg.typname::pg_catalog.text AS kind
  FROM fn JOIN reg ON reg.oid = fn.t
  UNION
  SELECT fn.proname, fn.fewest, fn.most, fn.pos, reg.typname::pg_catalog.text
  FROM fn JOIN reg ON reg.oid = fn.prorettype
  WHERE fn.t IN ('text'::pg_catalog.regtype, 'cstring'::pg_catalog.regtype, 'name'::pg_catalog.regtype)
  UNION
  SELECT x.proname, x.fewest, x.most, x.pos, 'oid'
  FROM fn x JOIN by_oid y USING (proname, most, pos)
  WHERE x.prokind = 'f'
    AND x.t IN ('text'::pg_catalog.regtype, 'name'::pg_catalog.regtype, 'cstring'::pg_catalog.regtype)
)
SELECT proname, fewest, most, pos, kind FROM named ORDER BY 1, 2, 3, 4, 5;
