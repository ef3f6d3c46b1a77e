-- What the plan's relations reach through the catalog: every relation linked
-- to a granted one ($1, `schema.name`) by inheritance or partitioning, a
-- foreign key with a cascading action, or a rule (a view's definition
-- included), followed until nothing new is found, and each such link.
-- Built-in relations (oid < 16384, initdb's) end the walk: nobody adds
-- rules, keys or children to a system catalog.
--
-- Rows, by `kind`:
--   relation  one per relation of the closure: its relkind, and for a view
--             its definition (read under search_path = pg_catalog, so every
--             other name is qualified) and pg_relation_is_updatable
--   inherits  parent -> child (pg_inherits)
--   fk        referenced -> referencing, with ON DELETE / ON UPDATE actions
--   rule      a non-SELECT rule on a relation: event, INSTEAD, conditional,
--             enabled, and its definition
--   depends   relation -> relation a rule of it names (the view's query, a
--             rule's actions): the walk follows it so every relation a rule
--             could write is read; which one it writes is the rule's text
--   instead   a view's INSTEAD OF triggers, as a bit set of their events
WITH RECURSIVE
seed AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname || '.' || c.relname = ANY ($1::text[])
),
edge AS (
    SELECT 'inherits'::text AS kind, i.inhparent AS src, i.inhrelid AS dst, 0::oid AS via
    FROM pg_inherits i
    UNION ALL
    SELECT 'fk', k.confrelid, k.conrelid, k.oid
    FROM pg_constraint k
    WHERE k.contype = 'f' AND (k.confdeltype IN ('c', 'n', 'd') OR k.confupdtype IN ('c', 'n', 'd'))
    UNION ALL
    SELECT DISTINCT 'depends', r.ev_class, d.refobjid, r.oid
    FROM pg_rewrite r
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n'
    WHERE d.refobjid <> r.ev_class AND r.ev_class >= 16384
),
closure (oid) AS (
    SELECT oid FROM seed
    UNION
    SELECT e.dst FROM closure c JOIN edge e ON e.src = c.oid WHERE e.dst >= 16384
),
named AS (
    SELECT c.oid, n.nspname || '.' || c.relname AS name, c.relkind
    FROM closure x JOIN pg_class c ON c.oid = x.oid JOIN pg_namespace n ON n.oid = c.relnamespace
)
SELECT 'relation' AS kind, r.oid AS src, r.name AS src_name, 0::oid AS dst, ''::text AS dst_name,
       r.relkind::text AS detail, '' AS a, '' AS b,
       CASE WHEN r.relkind = 'v' AND r.oid >= 16384 THEN pg_get_viewdef(r.oid) END AS definition,
       CASE WHEN r.relkind = 'v' AND r.oid >= 16384 THEN pg_relation_is_updatable(r.oid, false) ELSE 0 END AS bits
FROM named r
UNION ALL
SELECT e.kind, s.oid, s.name, d.oid, d.name,
       coalesce(k.conname::text, ''), coalesce(k.confdeltype::text, ''), coalesce(k.confupdtype::text, ''), NULL, 0
FROM edge e
JOIN named s ON s.oid = e.src
JOIN named d ON d.oid = e.dst
LEFT JOIN pg_constraint k ON e.kind = 'fk' AND k.oid = e.via
UNION ALL
SELECT 'rule', s.oid, s.name, 0, '', r.rulename::text, r.ev_type::text,
       concat_ws(' ', CASE WHEN r.is_instead THEN 'instead' END, CASE WHEN r.ev_qual::text <> '<>' THEN 'conditional' END,
                 CASE WHEN r.ev_enabled = 'D' THEN 'disabled' END),
       pg_get_ruledef(r.oid), 0
FROM pg_rewrite r JOIN named s ON s.oid = r.ev_class
WHERE r.rulename <> '_RETURN'
UNION ALL
SELECT 'instead', s.oid, s.name, 0, '', '', '', '', NULL, bit_or(t.tgtype::int)
FROM pg_trigger t JOIN named s ON s.oid = t.tgrelid
WHERE t.tgtype::int & 64 <> 0 AND t.tgenabled <> 'D'
GROUP BY s.oid, s.name
