-- Hostile SQL corpus for tests/plugins/hostile.wasm (grants: read one_roof.team,
-- insert one_roof.label; nothing else). EVERY statement below must be refused
-- by the host's checker (RL000). One statement per line; `--` lines are
-- comments; a literal backslash-n inside a line is a line break in the
-- statement. Grouped by the escape routes of shared/design/SECURITY.md.
-- Cases marked HOLE were allowed by the checker (or crashed the host) when
-- this file was written.

-- ===== 1. Transaction control: the host owns the transaction =====
COMMIT
COMMIT AND CHAIN
ROLLBACK
ROLLBACK AND NO CHAIN
BEGIN
BEGIN ISOLATION LEVEL SERIALIZABLE
BEGIN READ ONLY
START TRANSACTION READ WRITE
END
ABORT
SAVEPOINT hostile_sp
RELEASE SAVEPOINT hostile_sp
RELEASE hostile_sp
ROLLBACK TO SAVEPOINT hostile_sp
PREPARE TRANSACTION 'hostile'
COMMIT PREPARED 'hostile'
ROLLBACK PREPARED 'hostile'
SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
SET TRANSACTION READ WRITE
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE
/* comment first */ COMMIT
commit work

-- ===== 2. Session identity and settings =====
SET ROLE postgres
SET ROLE NONE
RESET ROLE
SET LOCAL ROLE postgres
SET SESSION AUTHORIZATION postgres
SET SESSION AUTHORIZATION DEFAULT
RESET SESSION AUTHORIZATION
RESET ALL
SET statement_timeout = 0
SET LOCAL statement_timeout = 0
SET LOCAL lock_timeout = 0
SET search_path = public, pg_catalog
SET LOCAL search_path TO pg_temp, public
SET session_replication_role = replica
SET row_security = off
SET default_transaction_read_only = off
SET TIME ZONE 'UTC'
SET standard_conforming_strings = off
SET client_min_messages = error
RESET statement_timeout
RESET search_path
SHOW ALL
SHOW search_path
SELECT set_config('role', 'postgres', false)
SELECT set_config('statement_timeout', '0', true)
SELECT set_config('search_path', 'public, pg_catalog', false)
SELECT set_config('session_replication_role', 'replica', true)
SELECT pg_catalog.set_config('role', 'none', false)
SELECT code, set_config('lock_timeout', '0', true) FROM one_roof.team
SELECT current_setting('data_directory')
SELECT current_setting('search_path')
SELECT pg_reload_conf()
ALTER SYSTEM SET statement_timeout = 0
ALTER SYSTEM RESET ALL
ALTER ROLE CURRENT_USER SET statement_timeout = 0
ALTER DATABASE directus SET search_path = public
UPDATE pg_settings SET setting = '0' WHERE name = 'statement_timeout'
SELECT * FROM pg_settings
DISCARD ALL
DISCARD TEMP
DISCARD PLANS
DISCARD SEQUENCES

-- ===== 3. Procedural code, DDL, roles, maintenance =====
DO $$ BEGIN DELETE FROM one_roof.approval; END $$
DO LANGUAGE plpgsql 'BEGIN PERFORM pg_sleep(10); END'
DO $x$ BEGIN EXECUTE 'TRUNCATE one_roof.approval'; END $x$
CALL public.hostile_proc()
CALL pg_catalog.pg_sleep(1)
CREATE FUNCTION public.hostile_f() RETURNS int LANGUAGE sql AS 'DELETE FROM one_roof.approval RETURNING 1'
CREATE OR REPLACE FUNCTION one_roof.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT $1 $$
CREATE PROCEDURE public.hostile_p() LANGUAGE sql AS $$ DELETE FROM one_roof.approval $$
CREATE TRIGGER hostile_t BEFORE INSERT ON one_roof.label FOR EACH ROW EXECUTE FUNCTION public.hostile_f()
CREATE RULE hostile_r AS ON INSERT TO one_roof.label DO ALSO DELETE FROM one_roof.approval
CREATE VIEW public.hostile_v AS SELECT * FROM one_roof.approval
CREATE MATERIALIZED VIEW one_roof.hostile_mv AS SELECT * FROM one_roof.team
CREATE EXTENSION dblink
CREATE EXTENSION IF NOT EXISTS postgres_fdw
CREATE SERVER hostile_srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'localhost')
CREATE USER MAPPING FOR CURRENT_USER SERVER hostile_srv
IMPORT FOREIGN SCHEMA public FROM SERVER hostile_srv INTO public
CREATE FOREIGN TABLE public.hostile_ft (a int) SERVER hostile_srv
CREATE LANGUAGE plperlu
CREATE OPERATOR public.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = texteq)
CREATE CAST (text AS int) WITH INOUT AS IMPLICIT
CREATE EVENT TRIGGER hostile_e ON ddl_command_start EXECUTE FUNCTION public.hostile_f()
CREATE TYPE public.hostile_type AS (a int)
CREATE SCHEMA hostile
CREATE SEQUENCE public.hostile_seq
CREATE INDEX ON one_roof.team (code)
CREATE INDEX CONCURRENTLY hostile_i ON one_roof.team (name)
CREATE PUBLICATION hostile_pub FOR ALL TABLES
CREATE SUBSCRIPTION hostile_sub CONNECTION 'dbname=directus' PUBLICATION hostile_pub
CREATE TABLESPACE hostile_ts LOCATION '/tmp'
CREATE DATABASE hostile
CREATE POLICY hostile_pol ON one_roof.approval USING (true)
ALTER TABLE one_roof.team ADD COLUMN hostile int
ALTER TABLE one_roof.label DISABLE TRIGGER ALL
ALTER TABLE rollout_ledger.tier_event DISABLE TRIGGER tier_event_append_only
ALTER TABLE one_roof.approval OWNER TO CURRENT_USER
ALTER TABLE one_roof.approval DISABLE ROW LEVEL SECURITY
ALTER SEQUENCE one_roof.label_id_seq RESTART WITH 1
COMMENT ON TABLE one_roof.team IS 'pwned'
DROP TABLE one_roof.approval
DROP TABLE one_roof.team
DROP TABLE one_roof.label
DROP TABLE IF EXISTS one_roof.label CASCADE
DROP SCHEMA one_roof CASCADE
DROP FUNCTION rollout_ledger.refuse_change() CASCADE
REINDEX TABLE one_roof.team
CLUSTER one_roof.team USING team_pkey
REFRESH MATERIALIZED VIEW public.hostile_mv
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC
GRANT SELECT ON one_roof.approval TO PUBLIC
GRANT ALL ON ALL TABLES IN SCHEMA one_roof TO PUBLIC
GRANT pg_read_server_files TO CURRENT_USER
REVOKE ALL ON one_roof.team FROM PUBLIC
CREATE ROLE hostile SUPERUSER LOGIN PASSWORD 'hostile'
CREATE USER hostile2 WITH PASSWORD 'hostile'
ALTER ROLE postgres PASSWORD 'hostile'
ALTER USER CURRENT_USER WITH SUPERUSER
DROP ROLE postgres
DROP OWNED BY CURRENT_USER
REASSIGN OWNED BY CURRENT_USER TO postgres
VACUUM
VACUUM FULL one_roof.team
ANALYZE one_roof.team
CHECKPOINT
LOAD '/tmp/hostile.so'
LOAD 'auto_explain'

-- ===== 4. Tables that outlive the tier: CREATE TABLE, TEMP, SELECT INTO, CTAS =====
CREATE TABLE one_roof.hostile (a int)
CREATE TEMP TABLE team (code text, name text)
CREATE TEMPORARY TABLE approval (code text)
CREATE UNLOGGED TABLE one_roof.hostile_u (a int)
CREATE TABLE pg_temp.label (id int)
CREATE TABLE one_roof.hostile_like (LIKE one_roof.approval INCLUDING ALL)
CREATE TABLE one_roof.hostile_child () INHERITS (one_roof.approval)
CREATE TABLE one_roof.hostile_ts (a int) TABLESPACE pg_default
CREATE TABLE one_roof.hostile_copy AS SELECT * FROM one_roof.team
CREATE TABLE one_roof.hostile_copy2 AS TABLE one_roof.approval
CREATE TEMP TABLE hostile_tmp AS SELECT code FROM one_roof.team
SELECT * INTO one_roof.hostile_into FROM one_roof.team
SELECT code INTO TEMP hostile_into2 FROM one_roof.team
SELECT * INTO UNLOGGED hostile_into3 FROM one_roof.team
SELECT code INTO TABLE public.hostile_into4 FROM one_roof.team WHERE false

-- ===== 5. COPY: server files and programs =====
COPY one_roof.approval TO STDOUT
COPY one_roof.team TO STDOUT
COPY one_roof.team TO '/tmp/hostile-team.csv'
COPY one_roof.label FROM '/etc/passwd'
COPY one_roof.label (responsibility_id, text) FROM PROGRAM 'echo 1,pwned' WITH (FORMAT csv)
COPY (SELECT * FROM one_roof.approval) TO PROGRAM 'cat > /tmp/hostile-leak'
COPY (SELECT 1) TO PROGRAM 'id'
COPY one_roof.label FROM STDIN
COPY pg_authid TO STDOUT WITH (FORMAT csv)

-- ===== 6. LISTEN / NOTIFY, prepared statements, locks, cursors =====
LISTEN hostile
UNLISTEN *
NOTIFY hostile, 'payload'
NOTIFY hostile
SELECT pg_notify('hostile', 'payload')
PREPARE hostile_p AS DELETE FROM one_roof.approval
PREPARE hostile_q(text) AS SELECT * FROM one_roof.team WHERE code = $1
EXECUTE hostile_p
EXECUTE hostile_q('T01')
DEALLOCATE hostile_p
DEALLOCATE ALL
DEALLOCATE PREPARE ALL
LOCK TABLE one_roof.team IN ACCESS EXCLUSIVE MODE
LOCK one_roof.label
LOCK TABLE rollout_ledger.rollout IN EXCLUSIVE MODE NOWAIT
DECLARE hostile_c CURSOR WITH HOLD FOR SELECT * FROM one_roof.team
DECLARE hostile_c2 CURSOR FOR SELECT * FROM one_roof.team
DECLARE hostile_c3 SCROLL CURSOR WITHOUT HOLD FOR SELECT code FROM one_roof.approval
FETCH ALL FROM hostile_c
FETCH NEXT hostile_c
MOVE FORWARD 5 IN hostile_c
CLOSE hostile_c
CLOSE ALL

-- ===== 7. EXPLAIN executes its statement =====
EXPLAIN ANALYZE DELETE FROM one_roof.approval
EXPLAIN (ANALYZE, BUFFERS) UPDATE one_roof.team SET name = 'pwned'
EXPLAIN ANALYZE INSERT INTO one_roof.label (responsibility_id, text) SELECT 1, code FROM one_roof.approval
EXPLAIN ANALYZE SELECT pg_sleep(10)
EXPLAIN ANALYZE CREATE TABLE one_roof.hostile_e AS SELECT 1
EXPLAIN SELECT * FROM one_roof.approval

-- ===== 8. Writes beyond the grants (team is read-only; label is insert-only) =====
INSERT INTO one_roof.team VALUES ('EVIL', 'Evil')
INSERT INTO one_roof.team (code, name) SELECT code || 'x', name FROM one_roof.team ON CONFLICT DO NOTHING
INSERT INTO one_roof.team VALUES ('T01', 'pwned') ON CONFLICT (code) DO UPDATE SET name = excluded.name
UPDATE one_roof.team SET name = 'pwned'
UPDATE ONLY one_roof.team SET name = 'pwned'
UPDATE one_roof.team t SET name = a.status FROM one_roof.approval a WHERE a.code = t.code
DELETE FROM one_roof.team
DELETE FROM one_roof.team *
UPDATE one_roof.label SET text = 'pwned'
DELETE FROM one_roof.label
DELETE FROM one_roof.label WHERE id = 1 RETURNING *
INSERT INTO one_roof.label (id, responsibility_id, text) VALUES (1, 1, 'x') ON CONFLICT (id) DO UPDATE SET text = excluded.text
INSERT INTO one_roof.label AS l (id, responsibility_id, text) VALUES (1, 1, 'x') ON CONFLICT ON CONSTRAINT label_pkey DO UPDATE SET text = 'pwned' WHERE l.id = 1
UPDATE one_roof.approval SET status = 'ratified' WHERE code = 'APR-2026-0412'
INSERT INTO one_roof.approval (code, kind, status) VALUES ('APR-EVIL', 'ospa', 'ratified')
INSERT INTO one_roof.resp_ownership (area_id, team_code, approval_ref) VALUES (1, 'T01', 'APR-EVIL')
DELETE FROM rollout_ledger.tier_event
UPDATE rollout_ledger.rollout SET outcome = 'complete'
INSERT INTO rollout_ledger.tier_event (rollout_id, plugin, ordinal, sha256, event, duration_ms, statements, rows_changed) VALUES (1, 'x', 1, 'x', 'applied', 0, 0, 0)
TRUNCATE one_roof.label
TRUNCATE one_roof.team, one_roof.approval CASCADE
TRUNCATE TABLE ONLY rollout_ledger.tier_event RESTART IDENTITY
MERGE INTO one_roof.team t USING (SELECT 'T01' AS code) s ON t.code = s.code WHEN MATCHED THEN DELETE
MERGE INTO one_roof.label l USING one_roof.team t ON l.text = t.code WHEN NOT MATCHED THEN INSERT (responsibility_id, text) VALUES (1, t.code)
MERGE INTO one_roof.approval a USING one_roof.team t ON a.code = t.code WHEN MATCHED THEN UPDATE SET status = 'ratified'

-- ===== 9. Writable CTEs =====
WITH d AS (DELETE FROM one_roof.approval RETURNING *) SELECT * FROM d
WITH u AS (UPDATE one_roof.team SET name = 'pwned' RETURNING 1) SELECT count(*) FROM u
WITH i AS (INSERT INTO one_roof.team VALUES ('EVIL', 'Evil') RETURNING code) SELECT * FROM i
WITH d AS (DELETE FROM one_roof.label RETURNING *) INSERT INTO one_roof.label SELECT * FROM d
WITH x AS (SELECT 1), d AS (DELETE FROM rollout_ledger.tier_event RETURNING 1) SELECT * FROM x
INSERT INTO one_roof.label (responsibility_id, text) WITH d AS (DELETE FROM one_roof.approval RETURNING code) SELECT 1, code FROM d
SELECT code FROM one_roof.team WHERE code IN (WITH d AS (DELETE FROM one_roof.approval RETURNING code) SELECT code FROM d)

-- ===== 10. Forbidden relations, plain =====
SELECT * FROM one_roof.approval
SELECT team_code, approval_ref FROM one_roof.resp_ownership
SELECT * FROM rollout_ledger.rollout
SELECT * FROM rollout_ledger.tier_event
SELECT rolname, rolpassword FROM pg_catalog.pg_authid
SELECT * FROM pg_authid
SELECT * FROM pg_shadow
SELECT usename, passwd FROM pg_catalog.pg_shadow
SELECT * FROM information_schema.tables
SELECT * FROM public.secret
SELECT * FROM one_roof.label
SELECT * FROM one_roof.v_resp_gap
SELECT * FROM pg_stat_activity
SELECT * FROM pg_catalog.pg_file_settings
SELECT * FROM pg_catalog.pg_hba_file_rules
SELECT * FROM pg_catalog.pg_largeobject
SELECT * FROM pg_user_mappings
SELECT * FROM one_roof.team, one_roof.approval
SELECT * FROM one_roof.team t, pg_catalog.pg_authid a

-- ===== 11. Forbidden relation in every position that holds a subquery =====
SELECT (SELECT status FROM one_roof.approval LIMIT 1)
SELECT code, (SELECT count(*) FROM one_roof.approval) FROM one_roof.team
SELECT code FROM one_roof.team WHERE EXISTS (SELECT 1 FROM one_roof.approval WHERE status = 'draft')
SELECT code FROM one_roof.team WHERE code IN (SELECT team_code FROM one_roof.resp_ownership)
SELECT code FROM one_roof.team WHERE code = ANY (SELECT rolname::text FROM pg_authid)
SELECT code FROM one_roof.team WHERE code <> ALL (SELECT code FROM one_roof.approval)
SELECT * FROM (SELECT * FROM one_roof.approval) AS a
SELECT * FROM one_roof.team t, LATERAL (SELECT status FROM one_roof.approval a WHERE a.code = t.code) s
SELECT t.code FROM one_roof.team t JOIN one_roof.approval a ON a.code = t.code
SELECT t.code FROM one_roof.team t JOIN one_roof.team u ON u.code = (SELECT min(code) FROM one_roof.approval)
SELECT * FROM one_roof.team LEFT JOIN one_roof.resp_ownership ON team_code = code
SELECT * FROM one_roof.team NATURAL JOIN one_roof.approval
SELECT * FROM one_roof.team FULL JOIN pg_catalog.pg_authid ON rolname::text = code
WITH a AS (SELECT * FROM one_roof.approval) SELECT * FROM a
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, one_roof.approval WHERE n < 2) SELECT * FROM r
WITH a AS MATERIALIZED (SELECT rolpassword FROM pg_catalog.pg_authid) SELECT count(*) FROM a
SELECT code FROM one_roof.team LIMIT (SELECT count(*) FROM one_roof.approval)
SELECT code FROM one_roof.team OFFSET (SELECT count(*) FROM pg_catalog.pg_authid)
SELECT code FROM one_roof.team FETCH FIRST (SELECT 1 FROM one_roof.approval LIMIT 1) ROWS ONLY
VALUES ((SELECT status FROM one_roof.approval LIMIT 1))
SELECT * FROM (VALUES (1), ((SELECT count(*) FROM pg_catalog.pg_authid))) AS v(x)
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, 'x') RETURNING (SELECT status FROM one_roof.approval LIMIT 1)
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, 'x') RETURNING id, (SELECT rolpassword FROM pg_catalog.pg_authid LIMIT 1)
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, (SELECT status FROM one_roof.approval LIMIT 1))
INSERT INTO one_roof.label (responsibility_id, text) SELECT 1, code FROM one_roof.approval
INSERT INTO one_roof.label (responsibility_id, text) SELECT 1, rolname || ':' || coalesce(rolpassword, '') FROM pg_catalog.pg_authid
INSERT INTO one_roof.label (responsibility_id, text) SELECT id, code FROM one_roof.resp_area
INSERT INTO one_roof.label (responsibility_id, text) SELECT responsibility_id, text FROM one_roof.label
INSERT INTO one_roof.label (id, responsibility_id, text) VALUES (1, 1, 'x') ON CONFLICT (id) WHERE EXISTS (SELECT 1 FROM one_roof.approval) DO NOTHING
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET text = (SELECT status FROM one_roof.approval LIMIT 1)
SELECT lower((SELECT code FROM one_roof.approval LIMIT 1))
SELECT upper(code) || (SELECT max(status) FROM one_roof.approval) FROM one_roof.team
SELECT length(coalesce((SELECT rolpassword FROM pg_catalog.pg_authid LIMIT 1), ''))
SELECT code FROM one_roof.team ORDER BY (SELECT count(*) FROM one_roof.approval)
SELECT count(*) FROM one_roof.team GROUP BY (SELECT status FROM one_roof.approval LIMIT 1)
SELECT count(*) FROM one_roof.team HAVING count(*) > (SELECT count(*) FROM one_roof.approval)
SELECT count(*) FROM one_roof.team GROUP BY GROUPING SETS ((code), ((SELECT 1 FROM one_roof.approval LIMIT 1)))
SELECT CASE WHEN EXISTS (SELECT 1 FROM one_roof.approval WHERE status = 'ratified') THEN 1 ELSE 0 END
SELECT CASE (SELECT status FROM one_roof.approval LIMIT 1) WHEN 'draft' THEN 'd' END FROM one_roof.team
SELECT coalesce(NULL, (SELECT code FROM one_roof.approval LIMIT 1))
SELECT nullif(code, (SELECT max(code) FROM one_roof.approval)) FROM one_roof.team
SELECT greatest(code, (SELECT max(code) FROM one_roof.approval)) FROM one_roof.team
SELECT (ARRAY[1, 2, 3])[(SELECT count(*) FROM one_roof.approval)]
SELECT (ARRAY(SELECT code FROM one_roof.approval))[1]
SELECT ARRAY(SELECT rolname FROM pg_catalog.pg_authid)
SELECT row_number() OVER (PARTITION BY (SELECT 1 FROM one_roof.approval LIMIT 1) ORDER BY code) FROM one_roof.team
SELECT sum(1) OVER w FROM one_roof.team WINDOW w AS (ORDER BY (SELECT max(code) FROM one_roof.approval))
SELECT count(*) OVER (ORDER BY code ROWS (SELECT count(*) FROM one_roof.approval) PRECEDING) FROM one_roof.team
SELECT count(*) FILTER (WHERE code IN (SELECT code FROM one_roof.approval)) FROM one_roof.team
SELECT string_agg(code, ',' ORDER BY (SELECT 1 FROM one_roof.approval LIMIT 1)) FROM one_roof.team
SELECT DISTINCT ON ((SELECT 1 FROM pg_catalog.pg_authid LIMIT 1)) code FROM one_roof.team
SELECT code FROM one_roof.team UNION SELECT code FROM one_roof.approval
SELECT code FROM one_roof.team EXCEPT SELECT rolname::text FROM pg_authid
SELECT code FROM one_roof.team INTERSECT ALL SELECT team_code FROM one_roof.resp_ownership
SELECT (SELECT status FROM one_roof.approval LIMIT 1)::text
SELECT CAST((SELECT count(*) FROM one_roof.approval) AS text)
SELECT 1 WHERE (SELECT ratified_by FROM one_roof.approval LIMIT 1) IS NULL
SELECT 1 WHERE 1 BETWEEN 0 AND (SELECT count(*) FROM one_roof.approval)
SELECT code FROM one_roof.team WHERE code LIKE (SELECT min(code) FROM one_roof.approval)
SELECT ROW(1, 'x') = (SELECT 1, status FROM one_roof.approval LIMIT 1)
SELECT jsonb_agg(a) FROM one_roof.approval a
SELECT to_jsonb(a) FROM one_roof.approval AS a
SELECT jsonb_build_object('p', (SELECT rolpassword FROM pg_catalog.pg_authid LIMIT 1))
SELECT xmlelement(name x, (SELECT status FROM one_roof.approval LIMIT 1))
SELECT * FROM one_roof.approval TABLESAMPLE SYSTEM (100)
SELECT * FROM one_roof.team TABLESAMPLE BERNOULLI ((SELECT 50 FROM one_roof.approval LIMIT 1))

-- ===== 12. Row locks =====
SELECT 1 FROM one_roof.team FOR UPDATE
SELECT code FROM one_roof.team FOR SHARE NOWAIT
SELECT code FROM one_roof.team FOR NO KEY UPDATE SKIP LOCKED
SELECT code FROM one_roof.team FOR KEY SHARE OF team
SELECT * FROM (SELECT code FROM one_roof.team FOR UPDATE) s
SELECT code FROM one_roof.team WHERE code IN (SELECT code FROM one_roof.team FOR UPDATE)

-- ===== 13. SQL hidden in strings; server reach; functions that change state =====
SELECT query_to_xml('select * from one_roof.approval', true, true, '')
SELECT query_to_xml_and_xmlschema('select rolpassword from pg_authid', true, true, '')
SELECT query_to_xmlschema('select * from rollout_ledger.rollout', true, true, '')
SELECT table_to_xml('one_roof.approval', true, true, '')
SELECT table_to_xml('pg_authid'::regclass, true, true, '')
SELECT table_to_xmlschema('one_roof.approval', true, true, '')
SELECT table_to_xml_and_xmlschema('rollout_ledger.rollout', true, true, '')
SELECT cursor_to_xml('hostile_c', 10, true, true, '')
SELECT cursor_to_xmlschema('hostile_c', true, true, '')
SELECT schema_to_xml('one_roof', true, true, '')
SELECT schema_to_xml_and_xmlschema('rollout_ledger', true, true, '')
SELECT database_to_xml(true, true, '')
SELECT database_to_xmlschema(true, true, '')
SELECT database_to_xml_and_xmlschema(true, true, '')
SELECT * FROM ts_stat('select to_tsvector(status) from one_roof.approval')
SELECT ts_stat($$select to_tsvector(rolpassword) from pg_authid$$)
SELECT * FROM dblink('dbname=directus', 'delete from one_roof.approval returning 1') AS t(x int)
SELECT dblink_exec('dbname=directus', 'drop table one_roof.approval')
SELECT dblink_connect('hostile', 'dbname=directus')
SELECT * FROM generate_series(1, 1), dblink('dbname=directus', 'select rolpassword from pg_authid') AS t(p text)
SELECT public.dblink('dbname=directus', 'select 1')
SELECT pg_read_file('/etc/passwd')
SELECT pg_read_file('pg_hba.conf', 0, 10000)
SELECT pg_catalog.pg_read_file('/etc/passwd')
SELECT "pg_read_file"('/etc/passwd')
SELECT PG_READ_FILE('/etc/passwd')
SELECT pg_read_binary_file('/etc/shadow')
SELECT pg_ls_dir('.')
SELECT * FROM pg_catalog.pg_ls_dir('/')
SELECT * FROM one_roof.team t CROSS JOIN LATERAL pg_ls_dir('.') AS f
SELECT * FROM ROWS FROM (generate_series(1, 2), pg_ls_dir('.')) AS r(a, b)
SELECT * FROM generate_series(1, 1), pg_read_file('/etc/passwd')
SELECT pg_stat_file('postgresql.auto.conf')
SELECT * FROM pg_ls_logdir()
SELECT * FROM pg_ls_waldir()
SELECT lo_import('/etc/passwd')
SELECT lo_export(16384, '/tmp/hostile-lo')
SELECT lo_create(0)
SELECT lo_unlink(16384)
SELECT lo_from_bytea(0, '\x00')
SELECT pg_advisory_lock(1)
SELECT pg_advisory_lock(1, 2)
SELECT pg_advisory_lock_shared(1)
SELECT pg_advisory_xact_lock(1)
SELECT pg_advisory_unlock_all()
SELECT pg_advisory_unlock(1414088018)
SELECT pg_try_advisory_lock(1414088018)
SELECT pg_sleep(10)
SELECT pg_sleep_for('1 hour')
SELECT pg_sleep_until('infinity')
SELECT pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()
SELECT pg_rotate_logfile()
SELECT pg_switch_wal()
SELECT pg_create_restore_point('hostile')
SELECT pg_stat_reset()
SELECT pg_logical_emit_message(false, 'hostile', 'payload')
SELECT txid_current()
SELECT pg_current_xact_id()
SELECT nextval('one_roof.label_id_seq')
SELECT setval('one_roof.label_id_seq', 1)
SELECT currval('one_roof.label_id_seq')
SELECT pg_get_viewdef('one_roof.v_resp_gap')
SELECT convert_from(pg_read_binary_file('/etc/passwd'), 'UTF8')
SELECT encode(pg_read_binary_file('/etc/passwd'), 'base64')
SELECT query_to_xml(convert_from(decode('c2VsZWN0ICogZnJvbSBvbmVfcm9vZi5hcHByb3ZhbA==', 'base64'), 'UTF8'), true, true, '')
SELECT * FROM ts_stat(convert_from('\x73656c65637420746f5f7473766563746f7228737461747573292066726f6d206f6e655f726f6f662e617070726f76616c'::bytea, 'UTF8'))
SELECT query_to_xml(chr(115) || 'elect * from one_roof.approval', true, true, '')
SELECT query_to_xml(format('select * from %I.%I', 'one_roof', 'approval'), true, true, '')
SELECT query_to_xml(reverse('lavorppa.foor_eno morf * tceles'), true, true, '')
SELECT lower(pg_read_file('/etc/passwd'))
SELECT format('%s', pg_read_file('/etc/passwd'))
SELECT md5(current_setting('data_directory'))
SELECT code, pg_sleep(1) FROM one_roof.team
SELECT count(*) FROM one_roof.team WHERE pg_try_advisory_lock(1)
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, pg_read_file('/etc/passwd'))
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, 'x') RETURNING pg_advisory_lock(id)
SELECT xpath('/x', pg_read_file('/etc/passwd')::xml)

-- ===== 14. Function and operator names outside pg_catalog =====
SELECT public.lower('x')
SELECT one_roof.lower(code) FROM one_roof.team
SELECT pg_temp.lower('x')
SELECT directus.pg_catalog.lower('x')
SELECT "pg_catalog.lower"('x')
SELECT "LOWER"(code) FROM one_roof.team
SELECT 1 WHERE 1 OPERATOR(public.=) 1
SELECT code FROM one_roof.team WHERE code OPERATOR(public.===) 'T01'
SELECT code FROM one_roof.team WHERE code OPERATOR(one_roof.=) 'T01'
SELECT 1 OPERATOR(pg_temp.+) 1
SELECT code FROM one_roof.team WHERE code OPERATOR(public.===) ANY (ARRAY['T01'])
-- operator of a subquery comparison (SubLink.operName); was unchecked before e846f21
SELECT code FROM one_roof.team WHERE code OPERATOR(public.===) ANY (SELECT code FROM one_roof.team)
SELECT 1 WHERE 'T01' OPERATOR(public.===) ALL (SELECT code FROM one_roof.team)
-- ORDER BY … USING operator (SortBy.useOp; runs the opclass's support function); was unchecked before e846f21
SELECT code FROM one_roof.team ORDER BY code USING OPERATOR(public.<)
SELECT string_agg(code, ',' ORDER BY code USING OPERATOR(public.<)) FROM one_roof.team
-- three-part operator names (deparseAnyOperator, Assert(false)); crashed the host (SIGABRT) before e846f21
SELECT 1 OPERATOR(pg_catalog.public.=) 1
SELECT code FROM one_roof.team ORDER BY code USING OPERATOR(a.b.<)
SELECT 1 WHERE 'T01' OPERATOR(a.b.=) ANY (SELECT code FROM one_roof.team)

-- ===== 15. Casts to user types =====
SELECT 'x'::public.hostile_type
SELECT CAST(code AS public.citext) FROM one_roof.team
SELECT NULL::one_roof.approval
SELECT (NULL::one_roof.approval).*
SELECT '1'::pg_temp.hostile_type
SELECT ARRAY[code]::public.hostile_type[] FROM one_roof.team

-- ===== 16. Spellings: quoting, case, U&, comments, dollar quotes, E'' =====
SELECT * FROM "one_roof"."approval"
SELECT * FROM "ONE_ROOF".approval
SELECT * FROM one_roof."TEAM"
SELECT * FROM ONE_ROOF.APPROVAL
SELECT * FROM One_Roof.Approval
SELECT * FROM one_roof.U&"\0061pproval"
SELECT * FROM U&"one_roof".approval
SELECT * FROM U&"\006Fne_roof".U&"\0061pproval"
SELECT * FROM U&"one_roof".U&"!0061pproval" UESCAPE '!'
SELECT * FROM public.U&"\0073ecret"
SELECT * FROM U&"pg_\0061uthid"
SELECT * FROM one_roof/**/./**/approval
SELECT * FROM one_roof /* /* nested */ still a comment */ . approval
SELECT * FROM one_roof.team /* /* */ */ , one_roof.approval
SELECT * FROM one_roof.team /* -- */ , one_roof.approval
SELECT 1 -- c\nFROM one_roof.approval
SELECT * FROM one_roof.team --\n, one_roof.approval
SELECT * FROM one_roof.team /* a /* b\n*/ c */ , pg_authid
SELECT * FROM one_roof.team WHERE code = '--' OR code IN (SELECT code FROM one_roof.approval)
SELECT $$ ' $$ AS q, * FROM one_roof.approval
SELECT $x$ $$ $x$ AS q, * FROM one_roof.approval
SELECT $$;$$; DELETE FROM one_roof.approval
SELECT 1 AS x$a$, * FROM one_roof.approval
SELECT 1 AS x$a$; DELETE FROM one_roof.approval -- $a$
SELECT E'\'' AS q, * FROM one_roof.approval
SELECT E'\\'; DELETE FROM one_roof.approval -- '
SELECT '\'; DELETE FROM one_roof.approval; --'
SELECT * FROM directus.one_roof.approval
SELECT * FROM directus.one_roof.team
SELECT * FROM directus.pg_catalog.pg_authid
SELECT * FROM "public.secret"
SELECT * FROM public."secret"
SELECT * FROM "public"."secret"
SELECT * FROM pg_catalog.pg_authidxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
SELECT * FROM one_roof."approval_____________________________________________________________________"
SELECT * FROM "one_roofxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".approval
SELECT * FROM one_roof."éééééééééééééééééééééééééééééééééééé"

-- ===== 17. CTE shadowing and scope =====
WITH team AS (SELECT * FROM one_roof.approval) SELECT * FROM team
WITH pg_authid AS (SELECT 1) SELECT * FROM pg_catalog.pg_authid
SELECT (WITH pg_authid AS (SELECT 1) SELECT 1), * FROM pg_authid
SELECT * FROM pg_authid, (WITH pg_authid AS (SELECT 1) SELECT * FROM pg_authid) s
WITH x AS (SELECT rolpassword FROM pg_authid), pg_authid AS (SELECT 1 AS rolpassword) SELECT * FROM x
WITH pg_shadow AS (SELECT * FROM pg_shadow) SELECT * FROM pg_shadow
(WITH pg_authid AS (SELECT 1 AS x) SELECT x FROM pg_authid) UNION ALL SELECT 1 FROM pg_authid
SELECT * FROM (WITH pg_authid AS (SELECT 1) SELECT * FROM pg_authid) a, LATERAL (SELECT * FROM pg_authid) b
WITH approval AS (SELECT 1) SELECT * FROM one_roof.approval
WITH pg_authid AS (SELECT 1) INSERT INTO one_roof.label (responsibility_id, text) SELECT 1, coalesce(rolpassword, rolname) FROM pg_catalog.pg_authid
WITH label AS (SELECT 1 AS responsibility_id, 'x' AS text) INSERT INTO label SELECT * FROM label

-- ===== 18. Unqualified names and the temp schema =====
SELECT * FROM team
SELECT * FROM approval
SELECT * FROM label
INSERT INTO label (responsibility_id, text) VALUES (1, 'x')
SELECT * FROM pg_class
SELECT * FROM pg_temp.team
SELECT * FROM pg_temp_1.approval
SELECT * FROM PG_TEMP.team
INSERT INTO pg_temp.label (responsibility_id, text) VALUES (1, 'x')
INSERT INTO pg_temp_3.label (responsibility_id, text) VALUES (1, 'x')

-- ===== 19. ONLY / * inheritance forms and TABLE =====
SELECT * FROM ONLY one_roof.approval
SELECT * FROM one_roof.approval *
SELECT * FROM ONLY (one_roof.approval)
TABLE one_roof.approval
TABLE pg_authid
TABLE ONLY rollout_ledger.rollout

-- ===== 20. Several statements in one string =====
SELECT 1; SELECT 2
SELECT code FROM one_roof.team; COMMIT
COMMIT; SELECT 1
SELECT 1; DELETE FROM one_roof.approval
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, 'x'); SET ROLE postgres

-- ===== 21. Denial of service through forbidden functions =====
SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b, pg_sleep(0.001) c
SELECT count(pg_sleep(0.01)) FROM generate_series(1, 1000000000)
SELECT pg_advisory_lock(g) FROM generate_series(1, 200000) AS g
SELECT pg_try_advisory_lock(g) FROM generate_series(1, 200000) AS g
SELECT pg_notify('hostile', repeat('x', 7999)) FROM generate_series(1, 1000000)
SELECT length(repeat('x', 1000000000))
SELECT count(*) FROM one_roof.approval a, one_roof.approval b, one_roof.approval c, one_roof.approval d
SELECT lo_create(0) FROM generate_series(1, 100000)

-- ===== 22. Attribute (functional) notation: PostgreSQL reads `(expr).f` and =====
-- ===== `rel.f` as the call f(expr) for ANY one-argument function on search_path =====
-- ===== (pg_catalog), bypassing the function allow-list. =====
SELECT ('/etc/passwd').pg_read_file
SELECT ('PG_VERSION'::text).pg_read_file
SELECT f.pg_read_file FROM unnest(ARRAY['/etc/passwd']) AS f
SELECT ('/etc/passwd').pg_read_binary_file
SELECT ('.').pg_ls_dir
SELECT ('postgresql.auto.conf').pg_stat_file
SELECT ('/etc/passwd').lo_import
SELECT (0::oid).lo_create
SELECT (10::float8).pg_sleep
SELECT ('1 hour'::interval).pg_sleep_for
SELECT code FROM one_roof.team WHERE (0.5::float8).pg_sleep IS NULL
SELECT (42::bigint).pg_advisory_lock
SELECT g.pg_advisory_lock FROM generate_series(1, 200000) AS g
SELECT (1).pg_terminate_backend
SELECT (1).pg_cancel_backend
SELECT ('data_directory').current_setting
SELECT ('one_roof.label_id_seq'::regclass).nextval
SELECT ('one_roof.v_resp_gap').pg_get_viewdef
SELECT ('select to_tsvector(status) from one_roof.approval').ts_stat
SELECT ('select to_tsvector(coalesce(rolpassword, rolname)) from pg_authid').ts_stat
SELECT ('select to_tsvector(set_config(''role'', ''pg_monitor'', false))').ts_stat
SELECT ('select to_tsvector(set_config(''statement_timeout'', ''0'', false))').ts_stat
SELECT ('select to_tsvector(pg_read_file(''/etc/passwd''))').ts_stat
SELECT ('select to_tsvector(setval(''one_roof.label_id_seq'', 1)::text)').ts_stat
SELECT ($q$select to_tsvector(public.dblink_exec('dbname=directus', 'update one_roof.approval set status = ''ratified'''))$q$).ts_stat
SELECT ('hostile_slot'::name).pg_create_physical_replication_slot
WITH x AS (SELECT ('/etc/passwd').pg_read_file AS f) SELECT * FROM x
SELECT code FROM one_roof.team ORDER BY (1::bigint).pg_try_advisory_lock
SELECT code FROM one_roof.team LIMIT (SELECT length(('PG_VERSION').pg_read_file))
VALUES (('/etc/passwd').pg_read_file)
SELECT lower(('/etc/passwd').pg_read_file)
SELECT t.code FROM one_roof.team t JOIN one_roof.team u ON (0.01::float8).pg_sleep IS NULL
SELECT count(*) FROM one_roof.team GROUP BY ((0.01::float8).pg_sleep)::text
INSERT INTO one_roof.label (responsibility_id, text) SELECT 1, ('/etc/passwd').pg_read_file
INSERT INTO one_roof.label (responsibility_id, text) VALUES (1, 'x') RETURNING (id).pg_advisory_lock

-- HOLE: `name.f` where name is a FROM item that is an expression but not a
-- function call (CAST, COALESCE, GREATEST, LEAST): its implicit name is the
-- type / keyword (or the cast column), and its whole-row value is a scalar.
SELECT text.pg_read_file FROM CAST('/etc/passwd' AS text)
SELECT coalesce.pg_read_file FROM COALESCE('/etc/passwd'::text)
SELECT greatest.pg_sleep FROM GREATEST(10::float8)
SELECT least.lo_import FROM LEAST('/etc/passwd'::text)
SELECT "varchar".pg_ls_dir FROM CAST('.' AS varchar)
SELECT int8.pg_advisory_lock FROM CAST(42 AS bigint)
SELECT count(int8.pg_advisory_lock) FROM generate_series(1, 200000) AS g, CAST(g + 0 AS bigint)
SELECT text.ts_stat FROM CAST('select to_tsvector(status) from one_roof.approval' AS text)
SELECT coalesce.ts_stat FROM COALESCE('select to_tsvector(set_config(''role'', ''pg_monitor'', false))'::text)
SELECT code FROM one_roof.team t, CAST('/etc/passwd' AS text) WHERE text.pg_read_file IS NOT NULL
INSERT INTO one_roof.label (responsibility_id, text) SELECT 1, text.pg_read_file FROM CAST('/etc/passwd' AS text)
SELECT x.pg_read_file FROM CAST('/etc/passwd' AS text) AS x
-- `alias.f` on a table alias calls f(row): refused for every pg_catalog
-- function one argument can call (the list comes from the catalog).
SELECT t.row_to_json FROM one_roof.team t
SELECT t.quote_literal FROM one_roof.team AS t

-- ===== 22b. DDL (issue 20): every name a schema change carries is a grant =====
-- ===== question: constraint and index names, referenced tables, functions, =====
-- ===== operators, collations and types in defaults, checks, index expressions =====
-- ===== and predicates, a view's query; and the forms that reach further. =====
ALTER TABLE one_roof.team ADD COLUMN x text DEFAULT pg_read_file('/etc/passwd')
ALTER TABLE one_roof.label ADD COLUMN x int DEFAULT 1
ALTER TABLE one_roof.label ADD CONSTRAINT c CHECK (pg_catalog.pg_sleep(1) IS NULL) NOT VALID
ALTER TABLE one_roof.label ADD CONSTRAINT fk FOREIGN KEY (responsibility_id) REFERENCES rollout_ledger.rollout (id) NOT VALID
ALTER TABLE one_roof.label ALTER COLUMN text TYPE text COLLATE public.x USING lo_import('/etc/passwd')::text
ALTER TABLE one_roof.label ALTER COLUMN text SET DEFAULT current_setting('data_directory')
ALTER TABLE one_roof.label OWNER TO postgres
ALTER TABLE one_roof.label SET SCHEMA public
ALTER TABLE one_roof.label DISABLE TRIGGER ALL
ALTER TABLE one_roof.label ATTACH PARTITION one_roof.team FOR VALUES IN (1)
ALTER TABLE one_roof.label DROP COLUMN text CASCADE
CREATE INDEX i ON one_roof.label ((pg_read_file('/etc/passwd')))
CREATE INDEX i ON one_roof.label (text) WHERE dblink_exec('x', 'DROP TABLE one_roof.team') IS NULL
CREATE INDEX i ON one_roof.label USING gist (text public.gist_trgm_ops)
CREATE INDEX i ON one_roof.label (text COLLATE public.evil)
CREATE INDEX CONCURRENTLY i ON one_roof.label (text)
CREATE VIEW one_roof.v AS SELECT * FROM rollout_ledger.rollout
CREATE VIEW one_roof.label AS SELECT pg_read_file('/etc/passwd') AS text
CREATE OR REPLACE VIEW one_roof.v_resp_gap AS SELECT 1 AS x
CREATE VIEW one_roof.v WITH (security_invoker) AS SELECT code FROM one_roof.team
CREATE VIEW one_roof.v AS SELECT code, xmin FROM one_roof.team
CREATE VIEW one_roof.v AS WITH s AS (SELECT pg_ls_dir('.') AS f) SELECT f FROM s
CREATE VIEW one_roof.v AS SELECT t.code OPERATOR(public.===) 'a' FROM one_roof.team t
CREATE TEMP VIEW v AS SELECT code FROM one_roof.team
CREATE MATERIALIZED VIEW one_roof.v AS SELECT code FROM one_roof.team
DROP VIEW one_roof.v_resp_gap CASCADE
DROP VIEW one_roof.v_resp_gap, rollout_ledger.rollout
ALTER TYPE one_roof.review_kind ADD VALUE 'x'
ALTER TYPE one_roof.review_kind RENAME VALUE 'first' TO 'x'
ALTER TYPE one_roof.review_kind OWNER TO postgres
COMMENT ON TABLE rollout_ledger.rollout IS 'x'
COMMENT ON FUNCTION pg_catalog.pg_read_file(text) IS 'x'
COMMENT ON CONSTRAINT c ON rollout_ledger.rollout IS 'x'
COMMENT ON TYPE one_roof.review_kind IS 'x'

-- ===== 23. HOST CRASH: trees the walk accepts but libpg_query's deparser asserts =====
-- ===== on; with USE_ASSERT_CHECKING (every debug build of pg_query) the whole =====
-- ===== host process aborts (SIGABRT). Kept last so every case above is checked =====
-- ===== first; each one alone kills the run. =====
-- HOLE: NULLIF(…) in FROM (deparseFuncExprWindowless, Assert(false))
SELECT * FROM NULLIF(1, 2)
SELECT "nullif".pg_read_file FROM NULLIF('/etc/passwd'::text, '')
-- HOLE: a type modifier that is an expression (deparseTypeName, Assert(false))
SELECT '1'::numeric(1 + 9)
SELECT CAST('1' AS numeric(10, 2 * 1))
SELECT '1'::numeric((SELECT count(*) FROM one_roof.team))
-- HOLE: an interval typmod that is not a field mask (deparseIntervalTypmods, Assert(false))
SELECT '1'::pg_catalog.interval(7)
