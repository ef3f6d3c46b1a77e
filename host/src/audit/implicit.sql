-- Code the catalog makes a plugin's statements run without their naming it.
-- "Built in" is what initdb created: oid < 16384 (FirstNormalObjectId);
-- anything later (an extension's objects included) is not, wherever it lives.
-- $1: the relations the plan reaches (oid[], from reach.sql); $2: the
-- functions the plan's grants name (text[], `schema.name`).
--
-- One row per object: kind, object (how messages and the lock file name it,
-- stable across a dump and restore: names, never oids), definition (what
-- its digest covers: its own text and the definition of every non-built-in
-- function it runs, and of those they call in turn), relations (the
-- relations of $1 it belongs to; empty when it reaches every statement in
-- the database), granted (for a granted function: its name as $2 gives
-- it), named (a grant names it and it runs no code that is not built in:
-- its definition is pinned, not implicit code), covers (the signatures of
-- the non-built-in functions the digest covers).
WITH RECURSIVE
scope AS (SELECT unnest($1::oid[]) AS oid),
-- Tables outside the scope that a foreign key's check reads, whatever its
-- actions (NO ACTION and RESTRICT write nothing, so the reach walk does
-- not follow them): writing a referenced table looks for referencing
-- rows, writing a referencing one for the referenced row, each by an
-- index scan that runs the index's operator class. `rel` is the scope's
-- relation whose write checks it (what reaches the table's objects).
checked (oid, rel) AS (
    SELECT DISTINCT x.oid, x.rel FROM pg_constraint k
    CROSS JOIN LATERAL (VALUES (k.conrelid, k.confrelid), (k.confrelid, k.conrelid)) x (oid, rel)
    JOIN scope s ON s.oid = x.rel
    WHERE k.contype = 'f' AND x.oid NOT IN (SELECT oid FROM scope)
),
-- Built-in functions that are not inert: volatile ones (setval, lo_put,
-- set_config, pg_terminate_backend, pg_advisory_lock, …) but those that
-- only draw a value (the clock, randomness, a sequence moving forward),
-- and those that run SQL from text (query_to_xml and its family). An
-- immutable or stable function changes nothing, by PostgreSQL's contract.
active (fn) AS (
    SELECT p.oid FROM pg_proc p
    WHERE p.oid < 16384
      AND ((p.provolatile = 'v'
            AND p.proname NOT IN ('nextval', 'random', 'gen_random_uuid', 'clock_timestamp', 'timeofday'))
           OR p.proname ~ '_to_xml')
),
-- The non-built-in functions an operator runs: its code and its estimators
-- (and a built-in active one behind an operator that is not built in).
op_runs (opr, fn) AS (
    SELECT o.oid, o.oprcode::oid FROM pg_operator o JOIN active a ON a.fn = o.oprcode::oid WHERE o.oid >= 16384
    UNION ALL
    SELECT o.oid, o.oprcode::oid FROM pg_operator o WHERE o.oprcode::oid >= 16384
    UNION ALL
    SELECT o.oid, o.oprrest::oid FROM pg_operator o WHERE o.oprrest::oid >= 16384
    UNION ALL
    SELECT o.oid, o.oprjoin::oid FROM pg_operator o WHERE o.oprjoin::oid >= 16384
),
-- ... an operator family: its support functions and its operators' code.
family_runs (family, fn) AS (
    SELECT p.amprocfamily, p.amproc::oid FROM pg_amproc p WHERE p.amproc::oid >= 16384
    UNION
    SELECT a.amopfamily, r.fn FROM pg_amop a JOIN op_runs r ON r.opr = a.amopopr
),
-- Objects attached to a reached relation that run when it is read or
-- written: triggers, rules, a view's query, policies (under RLS),
-- defaults and generated columns, constraints, indexes. (Their
-- definitions are printed only for those that run code: see `own` below.)
attached (kind, cls, obj, rel, object, always) AS (
    SELECT 'trigger', 'pg_trigger'::regclass, t.oid, t.tgrelid,
           format('trigger %I on %s', t.tgname, t.tgrelid::regclass), false
    FROM pg_trigger t JOIN scope s ON s.oid = t.tgrelid WHERE t.tgenabled <> 'D'
    UNION ALL
    -- A view's query is the code a read of it runs, as its owner: every
    -- view of the scope (one a grant names, or one such a view reads) is
    -- pinned, so a view redefined after the review is unreviewed again.
    SELECT CASE WHEN r.rulename = '_RETURN' THEN 'view' ELSE 'rule' END, 'pg_rewrite'::regclass, r.oid, r.ev_class,
           CASE WHEN r.rulename = '_RETURN' THEN format('view %s', r.ev_class::regclass)
                ELSE format('rule %I on %s', r.rulename, r.ev_class::regclass) END,
           r.rulename <> '_RETURN' OR c.relkind = 'v'
    FROM pg_rewrite r JOIN scope s ON s.oid = r.ev_class JOIN pg_class c ON c.oid = r.ev_class
    WHERE r.ev_enabled <> 'D'
    UNION ALL
    SELECT 'policy', 'pg_policy'::regclass, p.oid, p.polrelid,
           format('policy %I on %s', p.polname, p.polrelid::regclass), false
    FROM pg_policy p JOIN scope s ON s.oid = p.polrelid JOIN pg_class c ON c.oid = p.polrelid
    WHERE c.relrowsecurity
    UNION ALL
    SELECT 'default', 'pg_attrdef'::regclass, d.oid, d.adrelid,
           format('%s %s.%I', CASE WHEN a.attgenerated = 's' THEN 'generated column' ELSE 'default of' END,
                  d.adrelid::regclass, a.attname), false
    FROM pg_attrdef d JOIN scope s ON s.oid = d.adrelid
    JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
    UNION ALL
    SELECT 'constraint', 'pg_constraint'::regclass, k.oid, k.conrelid,
           format('constraint %I on %s', k.conname, k.conrelid::regclass), false
    FROM pg_constraint k JOIN scope s ON s.oid = k.conrelid
    UNION ALL
    SELECT 'index', 'pg_class'::regclass, i.indexrelid, i.indrelid,
           format('index %s on %s', i.indexrelid::regclass, i.indrelid::regclass), false
    FROM pg_index i JOIN scope s ON s.oid = i.indrelid
    UNION ALL
    SELECT 'index', 'pg_class'::regclass, i.indexrelid, i.indrelid,
           format('index %s on %s', i.indexrelid::regclass, i.indrelid::regclass), false
    FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM checked)
),
-- Every type a column of a reached relation holds, however deep: a
-- domain's base, an array's element, a composite's columns, a range's
-- subtype, a multirange's range.
column_type (rel, typ) AS (
    SELECT DISTINCT a.attrelid, a.atttypid
    FROM pg_attribute a JOIN scope s ON s.oid = a.attrelid
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION
    SELECT c.rel, x.typ FROM column_type c JOIN pg_type t ON t.oid = c.typ
    CROSS JOIN LATERAL (
        SELECT t.typbasetype WHERE t.typtype = 'd'
        UNION ALL
        SELECT t.typelem WHERE t.typelem <> 0 AND t.typsubscript = 'array_subscript_handler'::regproc
        UNION ALL
        SELECT a.atttypid FROM pg_attribute a
        WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT g.rngsubtype FROM pg_range g WHERE g.rngtypid = t.oid
        UNION ALL
        SELECT g.rngtypid FROM pg_range g WHERE g.rngmultitypid = t.oid
    ) x (typ)
),
-- The types whose code a reached relation can run: its columns', and those
-- its objects' expressions name.
candidate (typ) AS (
    SELECT typ FROM column_type
    UNION
    SELECT d.refobjid FROM attached a
    JOIN pg_depend d ON d.classid = a.cls AND d.objid = a.obj AND d.refclassid = 'pg_type'::regclass
),
-- ... and the non-built-in functions each runs by itself: I/O, binary I/O,
-- typmod, analyze and subscript functions, a domain's constraints and its
-- default (every INSERT that leaves a column of it out runs it, as does
-- an ON DELETE SET DEFAULT key), a range's canonical and subdiff.
type_own (typ, fn) AS (
    SELECT t.oid, f.fn FROM candidate x JOIN pg_type t ON t.oid = x.typ
    CROSS JOIN LATERAL (VALUES (t.typinput::oid), (t.typoutput::oid), (t.typreceive::oid), (t.typsend::oid),
                               (t.typmodin::oid), (t.typmodout::oid), (t.typanalyze::oid), (t.typsubscript::oid)) f (fn)
    WHERE f.fn >= 16384
    UNION
    SELECT k.contypid, coalesce(r.fn, d.refobjid)
    FROM candidate x
    JOIN pg_constraint k ON k.contypid = x.typ
    JOIN pg_depend d ON d.classid = 'pg_constraint'::regclass AND d.objid = k.oid
    LEFT JOIN op_runs r ON d.refclassid = 'pg_operator'::regclass AND r.opr = d.refobjid
    WHERE (d.refclassid = 'pg_proc'::regclass AND d.refobjid >= 16384) OR r.fn IS NOT NULL
    UNION
    SELECT k.contypid, x.fn FROM candidate c
    JOIN pg_constraint k ON k.contypid = c.typ AND k.conbin IS NOT NULL AND k.oid >= 16384
    CROSS JOIN LATERAL regexp_matches(k.conbin::text, ':(?:funcid|opfuncid|hashfuncid|negfuncid) (\d+)', 'g') m
    JOIN active x ON x.fn = m[1]::oid
    UNION
    -- A domain's default: what it depends on (functions, operators) and
    -- the active built-in functions its tree calls.
    SELECT t.oid, coalesce(r.fn, d.refobjid)
    FROM candidate x
    JOIN pg_type t ON t.oid = x.typ AND t.typdefaultbin IS NOT NULL
    JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid
    LEFT JOIN op_runs r ON d.refclassid = 'pg_operator'::regclass AND r.opr = d.refobjid
    WHERE (d.refclassid = 'pg_proc'::regclass AND d.refobjid >= 16384) OR r.fn IS NOT NULL
    UNION
    SELECT t.oid, a.fn FROM candidate x
    JOIN pg_type t ON t.oid = x.typ AND t.typdefaultbin IS NOT NULL AND t.oid >= 16384
    CROSS JOIN LATERAL regexp_matches(t.typdefaultbin::text, ':(?:funcid|opfuncid|hashfuncid|negfuncid) (\d+)', 'g') m
    JOIN active a ON a.fn = m[1]::oid
    UNION
    SELECT g.rngtypid, f FROM candidate x JOIN pg_range g ON g.rngtypid = x.typ,
        unnest(ARRAY[g.rngcanonical::oid, g.rngsubdiff::oid]) f
    WHERE f >= 16384
),
-- The expressions each attached object stores (those initdb made, such
-- as pg_locks' query, are built in like the functions they call). PostgreSQL records no
-- dependency on a built-in (pinned) function, so the built-in functions an
-- expression calls are read from its tree: every node that calls one
-- names it as funcid (a call, a cast), opfuncid/hashfuncid/negfuncid (an
-- operator's code), aggfnoid or winfnoid.
expression (cls, obj, tree) AS (
    SELECT a.cls, a.obj, k.conbin::text FROM attached a
    JOIN pg_constraint k ON a.cls = 'pg_constraint'::regclass AND k.oid = a.obj WHERE k.conbin IS NOT NULL
    UNION ALL
    SELECT a.cls, a.obj, d.adbin::text FROM attached a JOIN pg_attrdef d ON a.cls = 'pg_attrdef'::regclass AND d.oid = a.obj
    UNION ALL
    SELECT a.cls, a.obj, concat_ws(' ', p.polqual::text, p.polwithcheck::text) FROM attached a
    JOIN pg_policy p ON a.cls = 'pg_policy'::regclass AND p.oid = a.obj
    UNION ALL
    SELECT a.cls, a.obj, concat_ws(' ', i.indexprs::text, i.indpred::text) FROM attached a
    JOIN pg_index i ON a.cls = 'pg_class'::regclass AND i.indexrelid = a.obj
    UNION ALL
    SELECT a.cls, a.obj, concat_ws(' ', r.ev_action::text, r.ev_qual::text) FROM attached a
    JOIN pg_rewrite r ON a.cls = 'pg_rewrite'::regclass AND r.oid = a.obj
    UNION ALL
    SELECT a.cls, a.obj, t.tgqual::text FROM attached a
    JOIN pg_trigger t ON a.cls = 'pg_trigger'::regclass AND t.oid = a.obj WHERE t.tgqual IS NOT NULL
),
-- What each attached object runs, read from the dependencies PostgreSQL
-- records for every expression (functions, operators, operator classes,
-- types) and, for built-in functions, from the expression itself.
attached_runs (cls, obj, fn) AS (
    SELECT a.cls, a.obj, d.refobjid FROM attached a
    JOIN pg_depend d ON d.classid = a.cls AND d.objid = a.obj
    WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid >= 16384
    UNION
    SELECT e.cls, e.obj, x.fn FROM expression e
    CROSS JOIN LATERAL regexp_matches(e.tree, ':(?:funcid|opfuncid|hashfuncid|negfuncid|aggfnoid|winfnoid) (\d+)', 'g') m
    JOIN active x ON x.fn = m[1]::oid
    WHERE e.obj >= 16384
    UNION
    SELECT a.cls, a.obj, r.fn FROM attached a
    JOIN pg_depend d ON d.classid = a.cls AND d.objid = a.obj AND d.refclassid = 'pg_operator'::regclass
    JOIN op_runs r ON r.opr = d.refobjid
    UNION
    SELECT a.cls, a.obj, f.fn FROM attached a
    JOIN pg_depend d ON d.classid = a.cls AND d.objid = a.obj AND d.refclassid = 'pg_opclass'::regclass
    JOIN pg_opclass c ON c.oid = d.refobjid JOIN family_runs f ON f.family = c.opcfamily
    UNION
    SELECT a.cls, a.obj, t.fn FROM attached a
    JOIN pg_depend d ON d.classid = a.cls AND d.objid = a.obj AND d.refclassid = 'pg_type'::regclass
    JOIN type_own t ON t.typ = d.refobjid
),
finding (kind, object, own, fns, relations) AS (
    -- Default operator classes (any type), and any in pg_catalog: ORDER BY,
    -- GROUP BY, DISTINCT, set operations, windows, GREATEST/LEAST, row and
    -- array comparison and every index build pick them without a name.
    SELECT 'operator class',
           format('operator class %I.%I%s FOR TYPE %s USING %s', n.nspname, c.opcname,
                  CASE WHEN c.opcdefault THEN ' DEFAULT' ELSE '' END, format_type(c.opcintype, NULL), m.amname),
           format('family %s; owner %s; members %s', f.opfname, pg_get_userbyid(c.opcowner),
                  (SELECT string_agg(x, ', ' ORDER BY x) FROM (
                       SELECT format('OPERATOR %s %s', a.amopstrategy, a.amopopr::regoperator) FROM pg_amop a
                       WHERE a.amopfamily = c.opcfamily
                       UNION ALL
                       SELECT format('FUNCTION %s %s', p.amprocnum, p.amproc::regprocedure) FROM pg_amproc p
                       WHERE p.amprocfamily = c.opcfamily) AS members (x))),
           ARRAY(SELECT r.fn FROM family_runs r WHERE r.family = c.opcfamily), '{}'::oid[]
    FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace JOIN pg_am m ON m.oid = c.opcmethod
    JOIN pg_opfamily f ON f.oid = c.opcfamily
    WHERE c.oid >= 16384 AND (c.opcdefault OR c.opcnamespace = 'pg_catalog'::regnamespace)
    UNION ALL
    -- Operators and support functions added to a built-in family: its
    -- built-in classes reach them.
    SELECT 'operator family member',
           format('operator %s added to operator family %s USING %s', a.amopopr::regoperator, f.opfname, m.amname),
           format('strategy %s', a.amopstrategy), ARRAY(SELECT r.fn FROM op_runs r WHERE r.opr = a.amopopr), '{}'
    FROM pg_amop a JOIN pg_opfamily f ON f.oid = a.amopfamily JOIN pg_am m ON m.oid = f.opfmethod
    WHERE a.amopfamily < 16384 AND (a.oid >= 16384 OR a.amopopr >= 16384)
    UNION ALL
    SELECT 'operator family member',
           format('function %s %s added to operator family %s USING %s', p.amprocnum, p.amproc::regprocedure,
                  f.opfname, m.amname),
           format('for %s, %s', format_type(p.amproclefttype, NULL), format_type(p.amprocrighttype, NULL)),
           ARRAY[p.amproc::oid], '{}'
    FROM pg_amproc p JOIN pg_opfamily f ON f.oid = p.amprocfamily JOIN pg_am m ON m.oid = f.opfmethod
    WHERE p.amprocfamily < 16384 AND (p.oid >= 16384 OR p.amproc::oid >= 16384)
    UNION ALL
    -- Casts not built in, or with a function that is not.
    SELECT 'cast',
           format('cast (%s AS %s) %s', format_type(k.castsource, NULL), format_type(k.casttarget, NULL),
                  CASE k.castmethod WHEN 'f' THEN format('WITH FUNCTION %s', k.castfunc::regprocedure)
                                    WHEN 'i' THEN 'WITH INOUT' ELSE 'WITHOUT FUNCTION' END),
           format('context %s', k.castcontext), ARRAY[k.castfunc]::oid[], '{}'
    FROM pg_cast k WHERE k.oid >= 16384 OR k.castfunc >= 16384
    UNION ALL
    -- Operators on a built-in type, or in pg_catalog, that initdb did not make.
    SELECT 'operator',
           format('operator %I.%s(%s, %s)', n.nspname, o.oprname,
                  CASE WHEN o.oprleft = 0 THEN 'NONE' ELSE format_type(o.oprleft, NULL) END, format_type(o.oprright, NULL)),
           format('returns %s; commutator %s; negator %s; hashes %s; merges %s; owner %s',
                  format_type(o.oprresult, NULL), o.oprcom::regoperator, o.oprnegate::regoperator, o.oprcanhash,
                  o.oprcanmerge, pg_get_userbyid(o.oprowner)),
           ARRAY(SELECT r.fn FROM op_runs r WHERE r.opr = o.oid), '{}'
    FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
    WHERE o.oid >= 16384
      AND (o.oprnamespace = 'pg_catalog'::regnamespace OR o.oprleft BETWEEN 1 AND 16383 OR o.oprright BETWEEN 1 AND 16383)
    UNION ALL
    -- Default encoding conversions (convert(), a client encoding).
    SELECT 'conversion',
           format('default conversion %I.%I FOR %s TO %s', n.nspname, v.conname, pg_encoding_to_char(v.conforencoding),
                  pg_encoding_to_char(v.contoencoding)),
           format('owner %s', pg_get_userbyid(v.conowner)), ARRAY[v.conproc::oid], '{}'
    FROM pg_conversion v JOIN pg_namespace n ON n.oid = v.connamespace
    WHERE v.condefault AND (v.oid >= 16384 OR v.conproc::oid >= 16384)
    UNION ALL
    -- Event triggers: they fire on a plugin's CREATE TABLE and DROP TABLE.
    SELECT 'event trigger', format('event trigger %I ON %s', e.evtname, e.evtevent),
           format('tags %s; enabled %s; owner %s', coalesce(e.evttags::text, 'all'), e.evtenabled,
                  pg_get_userbyid(e.evtowner)),
           ARRAY[e.evtfoid], '{}'
    FROM pg_event_trigger e WHERE e.evtenabled <> 'D'
    UNION ALL
    -- A default table access method that is not built in: every CREATE
    -- TABLE without USING runs its handler.
    SELECT 'access method', format('access method %I (default_table_access_method)', m.amname),
           format('type %s', m.amtype), ARRAY[m.amhandler::oid], '{}'
    FROM pg_am m WHERE m.amname = current_setting('default_table_access_method') AND m.oid >= 16384
    UNION ALL
    -- Types a reached relation's columns hold whose code is not built in.
    SELECT 'type', format('type %s', format_type(c.typ, NULL)),
           format('type %s', (SELECT t.typtype FROM pg_type t WHERE t.oid = c.typ))
             || coalesce('; default ' || (SELECT t.typdefault FROM pg_type t WHERE t.oid = c.typ), '')
             || coalesce('; ' || (SELECT string_agg(pg_get_constraintdef(k.oid), '; ' ORDER BY k.conname)
                                  FROM pg_constraint k WHERE k.contypid = c.typ), ''),
           ARRAY(SELECT o.fn FROM type_own o WHERE o.typ = c.typ), array_agg(DISTINCT c.rel)
    FROM column_type c WHERE EXISTS (SELECT 1 FROM type_own o WHERE o.typ = c.typ)
    GROUP BY c.typ
    UNION ALL
    -- Objects of reached relations: every rule; the rest when they run
    -- code that is not built in.
    SELECT a.kind, a.object,
           CASE a.kind
               WHEN 'trigger' THEN (SELECT format('%s; enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
                                    FROM pg_trigger t WHERE t.oid = a.obj)
               WHEN 'rule' THEN (SELECT format('%s; enabled %s', pg_get_ruledef(r.oid), r.ev_enabled)
                                 FROM pg_rewrite r WHERE r.oid = a.obj)
               WHEN 'view' THEN (SELECT format('%s; options %s; owner %s', pg_get_viewdef(c.oid),
                                               coalesce(c.reloptions::text, '{}'), pg_get_userbyid(c.relowner))
                                 FROM pg_class c WHERE c.oid = a.rel)
               WHEN 'policy' THEN (
                   SELECT format('%s FOR %s TO %s USING (%s) WITH CHECK (%s); forced %s',
                                 CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, p.polcmd,
                                 array_to_string(ARRAY(SELECT CASE WHEN g = 0 THEN 'public' ELSE pg_get_userbyid(g)::text END
                                                       FROM unnest(p.polroles) g ORDER BY 1), ', '),
                                 pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
                                 c.relforcerowsecurity)
                   FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE p.oid = a.obj)
               WHEN 'default' THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.oid = a.obj)
               WHEN 'constraint' THEN pg_get_constraintdef(a.obj)
               WHEN 'index' THEN pg_get_indexdef(a.obj)
           END,
           ARRAY(SELECT r.fn FROM attached_runs r WHERE r.cls = a.cls AND r.obj = a.obj),
           ARRAY[a.rel] || ARRAY(SELECT c.rel FROM checked c WHERE c.oid = a.rel)
    FROM attached a
    WHERE a.always OR EXISTS (SELECT 1 FROM attached_runs r WHERE r.cls = a.cls AND r.obj = a.obj)
),
-- The findings, and every function a grant names ($2) that is not built
-- in: all the overloads its name resolves to, since a call picks among
-- them by its arguments (an overload added after the review may be the
-- one a call runs), so the name's digest covers each. (A plugin cannot
-- CALL a procedure; one of the name is pinned all the same.) A name with
-- only built-in overloads is not pinned.
pinned (kind, object, own, fns, relations, granted) AS (
    SELECT f.kind, f.object, f.own, f.fns, f.relations, NULL::text FROM finding f
    UNION ALL
    SELECT 'function', format('function %I.%I', n.nspname, p.proname),
           string_agg(format('%s %s', CASE p.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure'
                                                     WHEN 'a' THEN 'aggregate' ELSE 'window function' END,
                             p.oid::regprocedure), '; ' ORDER BY p.oid::regprocedure::text),
           array_agg(p.oid), '{}'::oid[], n.nspname || '.' || p.proname
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname || '.' || p.proname = ANY ($2::text[]) AND p.oid >= 16384
    GROUP BY n.nspname, p.proname
),
-- Which non-built-in function runs which, as far as the catalog can tell:
-- what it depends on (a SQL-standard body's calls, an aggregate's support
-- functions), and every function whose name its body holds as a word,
-- since the server does not parse a PL/pgSQL or string body until it runs
-- (a C or internal function's source is a symbol's name). A name a body
-- builds at run time (dynamic SQL) is not seen.
calls (fn, callee) AS MATERIALIZED (
    SELECT d.objid, d.refobjid FROM pg_depend d
    WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_proc'::regclass
      AND d.objid >= 16384 AND d.refobjid >= 16384
    UNION
    SELECT p.oid, q.oid FROM pg_proc p
    JOIN pg_language l ON l.oid = p.prolang AND l.lanname NOT IN ('c', 'internal')
    CROSS JOIN LATERAL (SELECT DISTINCT lower(w[1]) FROM regexp_matches(p.prosrc, '[[:alnum:]_$]+', 'g') w) w (word)
    JOIN pg_proc q ON lower(q.proname) = w.word AND q.oid >= 16384
    WHERE p.oid >= 16384
    UNION
    SELECT p.oid, q.oid FROM pg_proc p
    JOIN pg_language l ON l.oid = p.prolang AND l.lanname NOT IN ('c', 'internal')
    JOIN pg_proc q ON q.oid >= 16384 AND q.proname ~ '[^[:alnum:]_$]' AND strpos(p.prosrc, q.proname) > 0
    WHERE p.oid >= 16384
),
-- Every non-built-in function a finding's functions run, however deep (so
-- a callee changed after the review changes the digest).
runs (root, fn) AS (
    SELECT DISTINCT x.fn, x.fn FROM pinned f CROSS JOIN LATERAL unnest(f.fns) x (fn) WHERE x.fn >= 16384
    UNION
    SELECT r.root, c.callee FROM runs r JOIN calls c ON c.fn = r.fn
)
SELECT f.kind, f.object,
       f.kind || E'\n' || f.object || E'\n' || f.own || E'\n' || coalesce((
           SELECT string_agg(format('%s -- owner %s',
                                    CASE WHEN p.prokind = 'a' THEN format('aggregate %s', p.oid::regprocedure)
                                         ELSE pg_get_functiondef(p.oid) END,
                                    pg_get_userbyid(p.proowner)),
                             E'\n' ORDER BY p.oid::regprocedure::text)
           FROM pg_proc p WHERE p.oid IN (SELECT r.fn FROM runs r WHERE r.root = ANY (f.fns))), '') AS definition,
       f.relations, f.granted,
       f.granted IS NOT NULL OR (f.kind = 'view' AND cardinality(f.fns) = 0) AS named,
       ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
             WHERE p.oid IN (SELECT r.fn FROM runs r WHERE r.root = ANY (f.fns)) ORDER BY 1) AS covers
FROM pinned f
ORDER BY f.kind, f.object
