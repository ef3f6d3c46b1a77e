-- The differential oracle's scratch database (tests/oracle.rs), run once as
-- superuser in `directus` after the One-Roof baseline. Roles per grant set
-- are made by tests/oracle/roles.rs after this.
BEGIN;

-- ---- Tables the grant sets name, beside the One-Roof baseline ------------
CREATE SCHEMA oracle;
CREATE TABLE oracle.r (id int PRIMARY KEY, a int, b text, j jsonb);
CREATE TABLE oracle.w (id int PRIMARY KEY, a int, b text, j jsonb);
CREATE TABLE oracle.s (id serial PRIMARY KEY, a int, b text);
CREATE TYPE oracle.mood AS ENUM ('sad', 'ok');
INSERT INTO oracle.r SELECT n, n % 7, 'r' || n, jsonb_build_object('n', n) FROM generate_series(1, 20) n;
INSERT INTO oracle.w SELECT n, n % 7, 'w' || n, jsonb_build_object('n', n) FROM generate_series(1, 20) n;

-- ---- The tripwire ----------------------------------------------------------
-- Schema `trap`: USAGE and EXECUTE for everyone, so a statement that reaches
-- one of its objects runs it; every function bumps trap.hits, a sequence
-- (nextval is not rolled back with the statement's transaction), and says
-- its name in a NOTICE. SECURITY DEFINER: nextval runs as the owner, since
-- the restricted roles may not execute pg_catalog.nextval.
CREATE SCHEMA trap;
GRANT USAGE ON SCHEMA trap TO PUBLIC;
CREATE SEQUENCE trap.hits;
GRANT USAGE ON SEQUENCE trap.hits TO PUBLIC;

CREATE FUNCTION trap.hit(what text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$
BEGIN
  PERFORM nextval('trap.hits');
  RAISE NOTICE 'TRAP %', what;
END $$;

CREATE FUNCTION trap.f(x anyelement) RETURNS anyelement LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('f'); RETURN x; END $$;
CREATE FUNCTION trap.fi(x int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('fi'); RETURN x; END $$;
CREATE FUNCTION trap.ft(x text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('ft'); RETURN x; END $$;
CREATE FUNCTION trap.fb(x anyelement) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('fb'); RETURN true; END $$;
CREATE FUNCTION trap.fv() RETURNS int LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('fv'); RETURN 1; END $$;
-- A row function: `alias.rowf` is the call rowf(alias) (attribute notation).
CREATE FUNCTION trap.rowf(x record) RETURNS int LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('rowf'); RETURN 1; END $$;

-- Operators on int and text, and the comparison functions of an operator
-- class: an index or exclusion constraint calls them on every write.
CREATE FUNCTION trap.int_eq(a int, b int) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER IMMUTABLE
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('int_eq'); RETURN a = b; END $$;
CREATE FUNCTION trap.int_plus(a int, b int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('int_plus'); RETURN a + b; END $$;
CREATE FUNCTION trap.int_cmp(a int, b int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER IMMUTABLE
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('int_cmp'); RETURN btint4cmp(a, b); END $$;
CREATE FUNCTION trap.text_lt(a text, b text) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER IMMUTABLE
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('text_lt'); RETURN a < b; END $$;
CREATE OPERATOR trap.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = trap.int_eq, COMMUTATOR = OPERATOR(trap.===));
CREATE OPERATOR trap.### (LEFTARG = int, RIGHTARG = int, FUNCTION = trap.int_plus);
CREATE OPERATOR trap.<<< (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.text_lt);
CREATE OPERATOR CLASS trap.int_ops FOR TYPE int USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 trap.int_cmp(int, int);
CREATE OPERATOR CLASS trap.int_hash_ops FOR TYPE int USING hash AS
  OPERATOR 1 trap.===, FUNCTION 1 hashint4(int);

-- Types: a domain whose CHECK calls a trap function, a composite type, an
-- enum, a range type, a collation.
CREATE DOMAIN trap.dom AS int CHECK (trap.fb(VALUE));
CREATE DOMAIN trap.tdom AS text CHECK (trap.fb(VALUE));
CREATE TYPE trap.pair AS (a int, b text);
CREATE TYPE trap.mood AS ENUM ('sad', 'ok');
CREATE COLLATION trap.coll FROM "C";
-- Access methods have no schema and no privilege: new relations using them
-- are caught by the catalog tripwire (oracle_admin.tripped below).
CREATE ACCESS METHOD trap_heap TYPE TABLE HANDLER heap_tableam_handler;
-- (An index access method with a copy of btree's handler makes the server
-- fail with an internal error on an exclusion constraint; hash's works.)
CREATE ACCESS METHOD trap_hash TYPE INDEX HANDLER hashhandler;
CREATE FUNCTION trap.int_hash(a int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER IMMUTABLE
SET search_path = pg_catalog AS $$ BEGIN PERFORM trap.hit('int_hash'); RETURN hashint4(a); END $$;
CREATE OPERATOR CLASS trap.int_hash_am_ops DEFAULT FOR TYPE int USING trap_hash AS
  OPERATOR 1 =, FUNCTION 1 trap.int_hash(int);

-- Schema `vault`: the same kinds of object, USAGE for nobody: any statement
-- naming one is refused by the server with "permission denied for schema".
CREATE SCHEMA vault;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;
CREATE FUNCTION vault.fi(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x';
CREATE FUNCTION vault.int_eq(a int, b int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT a = b';
CREATE OPERATOR vault.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = vault.int_eq, COMMUTATOR = OPERATOR(vault.===));
CREATE OPERATOR CLASS vault.int_ops FOR TYPE int USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 btint4cmp(int, int);
CREATE DOMAIN vault.dom AS int;
CREATE TYPE vault.pair AS (a int, b text);
CREATE COLLATION vault.coll FROM "C";
CREATE SEQUENCE vault.seq;
CREATE TABLE vault.t (id int);

-- A ledger, as the host's (`rollout_ledger`), open to everyone: PostgreSQL
-- would let any role set its sequence, so only the checker stands between a
-- plugin and it; the tripwire (oracle_admin.ledger_state below) sees any
-- change to it, which survives the rollback (setval is not transactional).
CREATE SCHEMA rollout_ledger;
GRANT USAGE ON SCHEMA rollout_ledger TO PUBLIC;
CREATE TABLE rollout_ledger.rollout (id bigserial PRIMARY KEY, verb text);
INSERT INTO rollout_ledger.rollout (verb) VALUES ('run');
GRANT ALL ON ALL TABLES IN SCHEMA rollout_ledger TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA rollout_ledger TO PUBLIC;

-- ---- What the restricted roles may execute -----------------------------
-- Nothing, by default: EXECUTE is revoked from PUBLIC on every function of
-- every schema but trap (and on new ones), and SELECT on every catalog table
-- and view (the checker claims no catalog read without a grant).
-- tests/oracle/roles.rs grants back exactly what the checker claims.
DO $$
DECLARE s name;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('trap', 'pg_toast') AND nspname NOT LIKE 'pg_temp%'
           AND nspname NOT LIKE 'pg_toast_temp%' LOOP
    EXECUTE format('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA %I FROM PUBLIC', s);
  END LOOP;
END $$;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE SELECT ON ALL TABLES IN SCHEMA pg_catalog FROM PUBLIC;
REVOKE SELECT ON ALL TABLES IN SCHEMA information_schema FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- ---- The catalog tripwire --------------------------------------------------
-- Objects a statement creates that depend on a trap object (an operator
-- class, a collation, a type, an operator…) or use a trap access method:
-- no privilege guards those. Counted in all of the catalog, as superuser,
-- before and after each statement, in its transaction (which sees its own
-- rows; xmin would miss rows a savepoint's subtransaction wrote).
CREATE SCHEMA oracle_admin;
CREATE FUNCTION oracle_admin.tripped() RETURNS bigint LANGUAGE sql STABLE AS $$
  WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname IN ('trap', 'vault')),
       am AS (SELECT oid FROM pg_am WHERE amname LIKE 'trap%'),
       obj AS (SELECT classid, objid FROM pg_depend WHERE refobjid IN (SELECT oid FROM ns))
  SELECT (SELECT count(*) FROM pg_depend d
          WHERE (d.refclassid, d.refobjid) IN (SELECT classid, objid FROM obj)
             OR d.refobjid IN (SELECT oid FROM am))
       + (SELECT count(*) FROM pg_class c WHERE c.relam IN (SELECT oid FROM am))
$$;

-- The ledger's state: its sequence and its rows, as one text to compare
-- before and after each statement.
CREATE FUNCTION oracle_admin.ledger_state() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT (SELECT last_value || '/' || is_called FROM rollout_ledger.rollout_id_seq)
      || '/' || (SELECT count(*) FROM rollout_ledger.rollout)
$$;

-- The operator's code a grant on a relation runs: the defaults of the
-- tables in `writes`, the definitions of the views in `reads`, and the
-- bodies of the SQL functions they name (inlined into the caller's query,
-- so their functions and tables are checked against the caller), as text
-- (pg_get_functiondef: prosrc is empty for a standard-SQL body).
-- pg_catalog's own objects are pinned and have no pg_depend rows, so
-- tests/oracle/roles.rs reads the names from this text.
CREATE FUNCTION oracle_admin.operator_code(writes text[], reads text[]) RETURNS SETOF text LANGUAGE sql AS $$
  WITH RECURSIVE src(body) AS (
      SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
        WHERE d.adrelid IN (SELECT to_regclass(x) FROM unnest(writes) x)
    UNION
      SELECT pg_get_viewdef(c.oid) FROM pg_class c
        WHERE c.relkind = 'v' AND c.oid IN (SELECT to_regclass(x) FROM unnest(reads) x)
    UNION
      SELECT pg_get_functiondef(p.oid) FROM src, regexp_matches(src.body, '([a-z_0-9]+)\(', 'g') m
        JOIN pg_proc p ON p.proname = m[1] AND p.prokind = 'f'
        JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'sql'
  )
  SELECT body FROM src
$$;
COMMIT;
