-- The objects in the digest's schemas ($1), each with its catalog shape as
-- text: everything a rollback must restore besides rows, but the rewrite
-- rules (a view's query included), named by the last column's oid and
-- read apart (rules.sql): printing a rule locks every relation it names
-- until the transaction ends, and this one reads the whole catalog. Names are quoted
-- by the server (quote_ident), so the host can name them in the COPY it
-- builds without quoting anything itself; the last two columns are the raw
-- schema and relation names the scope is matched on. The host reads this
-- with search_path = pg_catalog, so every name in a shape is
-- schema-qualified. In information_schema only what was made after initdb
-- (oid >= 16384, FirstNormalObjectId) is read: the server's own views there
-- are the server's, and pg_dump copies neither.
SELECT 'relation' AS what,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
       c.relkind::text AS kind,
       (c.relkind = 'm' AND NOT c.relispopulated) AS unpopulated,
       concat_ws(E'\n',
         format('kind %s persistence %s rls %s force_rls %s replica_identity %s', c.relkind, c.relpersistence,
                c.relrowsecurity, c.relforcerowsecurity, c.relreplident),
         'owner ' || pg_get_userbyid(c.relowner),
         'acl ' || coalesce(c.relacl::text, '-'),
         'options ' || coalesce(c.reloptions::text, '-'),
         'tablespace ' || coalesce((SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace), '-'),
         'access method ' || coalesce((SELECT amname FROM pg_am WHERE oid = c.relam), '-'),
         'comment ' || obj_description(c.oid, 'pg_class'),
         -- A partition's bounds and a partitioned table's key: a detached
         -- or re-attached partition keeps every column and row.
         (SELECT string_agg(format('inherits %s', i.inhparent::regclass), E'\n' ORDER BY i.inhseqno)
            FROM pg_inherits i WHERE i.inhrelid = c.oid),
         'partition bound ' || pg_get_expr(c.relpartbound, c.oid),
         CASE WHEN c.relkind = 'p' THEN 'partition key ' || pg_get_partkeydef(c.oid) END,
         (SELECT string_agg(format('column %s %s not_null=%s default=%s identity=%s generated=%s collation=%s acl=%s '
                                   'storage=%s compression=%s statistics=%s options=%s comment=%s',
                                   quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                   coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), a.attidentity, a.attgenerated,
                                   coalesce(co.collname, '-'), coalesce(a.attacl::text, '-'), a.attstorage,
                                   a.attcompression, coalesce(a.attstattarget::text, '-'), coalesce(a.attoptions::text, '-'),
                                   coalesce(col_description(c.oid, a.attnum), '-')),
                            E'\n' ORDER BY a.attnum)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_collation co ON co.oid = a.attcollation
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
         (SELECT string_agg(format('constraint %s %s', quote_ident(k.conname), pg_get_constraintdef(k.oid)),
                            E'\n' ORDER BY k.conname)
            FROM pg_constraint k WHERE k.conrelid = c.oid),
         (SELECT string_agg(def, E'\n' ORDER BY def)
            FROM (SELECT format('index %s valid=%s clustered=%s replident=%s', pg_get_indexdef(i.indexrelid),
                                i.indisvalid, i.indisclustered, i.indisreplident) AS def
                    FROM pg_index i WHERE i.indrelid = c.oid) ix),
         (SELECT string_agg('statistics ' || pg_get_statisticsobjdef(s.oid), E'\n' ORDER BY s.stxname)
            FROM pg_statistic_ext s WHERE s.stxrelid = c.oid),
         (SELECT string_agg(format('trigger %s enabled=%s %s', quote_ident(t.tgname), t.tgenabled, pg_get_triggerdef(t.oid)),
                            E'\n' ORDER BY t.tgname)
            FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
         (SELECT string_agg(format('policy %s %s permissive=%s roles=%s using=%s check=%s', quote_ident(p.polname),
                                   p.polcmd, p.polpermissive, p.polroles::text,
                                   coalesce(pg_get_expr(p.polqual, p.polrelid), '-'),
                                   coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')),
                            E'\n' ORDER BY p.polname)
            FROM pg_policy p WHERE p.polrelid = c.oid),
         -- A sequence's definition rolls back (its position does not, and
         -- is read apart).
         (SELECT format('sequence %s start=%s increment=%s min=%s max=%s cache=%s cycle=%s', format_type(s.seqtypid, NULL),
                        s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
            FROM pg_sequence s WHERE s.seqrelid = c.oid),
         (SELECT string_agg(format('owned by %s.%s', d.refobjid::regclass, quote_ident(a.attname)), E'\n')
            FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
           WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
       ) AS shape,
       n.nspname::text AS schema,
       c.relname::text AS relname,
       CASE WHEN EXISTS (SELECT FROM pg_rewrite r WHERE r.ev_class = c.oid) THEN c.oid END AS rewritten
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND (n.nspname <> 'information_schema' OR c.oid >= 16384)
UNION ALL
-- Functions and procedures by their definition; aggregates (which have
-- none to print) by what defines them.
SELECT 'function', p.oid::regprocedure::text, p.prokind::text, false,
       concat_ws(E'\n', 'owner ' || pg_get_userbyid(p.proowner), 'acl ' || coalesce(p.proacl::text, '-'),
                 'comment ' || obj_description(p.oid, 'pg_proc'),
                 CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END,
                 (SELECT format('aggregate kind=%s transition=%s final=%s combine=%s state=%s initial=%s sort=%s',
                                g.aggkind, g.aggtransfn::regprocedure, g.aggfinalfn, g.aggcombinefn,
                                format_type(g.aggtranstype, NULL), coalesce(g.agginitval, '-'), g.aggsortop::regoperator)
                    FROM pg_aggregate g WHERE g.aggfnoid = p.oid)),
       n.nspname::text, NULL, NULL
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY ($1) AND (n.nspname <> 'information_schema' OR p.oid >= 16384)
UNION ALL
-- Types a column can have: enums (labels in order), domains (base type,
-- default, constraints), ranges, stand-alone composite types (attributes).
SELECT 'type', format_type(t.oid, NULL), t.typtype::text, false,
       concat_ws(E'\n',
         format('type %s owner %s acl %s', t.typtype, pg_get_userbyid(t.typowner), coalesce(t.typacl::text, '-')),
         'comment ' || obj_description(t.oid, 'pg_type'),
         (SELECT 'labels ' || string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
            FROM pg_enum e WHERE e.enumtypid = t.oid),
         CASE WHEN t.typtype = 'd' THEN format('domain over %s not_null=%s default=%s collation=%s',
                                               format_type(t.typbasetype, t.typtypmod), t.typnotnull,
                                               coalesce(t.typdefault, '-'), t.typcollation) END,
         (SELECT string_agg(format('constraint %s %s', quote_ident(k.conname), pg_get_constraintdef(k.oid)),
                            E'\n' ORDER BY k.conname)
            FROM pg_constraint k WHERE k.contypid = t.oid),
         (SELECT format('range over %s collation=%s subtype_diff=%s', format_type(r.rngsubtype, NULL), r.rngcollation,
                        r.rngsubdiff)
            FROM pg_range r WHERE r.rngtypid = t.oid),
         (SELECT string_agg(format('attribute %s %s collation=%s', quote_ident(a.attname),
                                   format_type(a.atttypid, a.atttypmod), a.attcollation),
                            E'\n' ORDER BY a.attnum)
            FROM pg_attribute a
           WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)),
       n.nspname::text, NULL, NULL
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = ANY ($1) AND t.typtype IN ('c', 'd', 'e', 'r', 'm')
   AND (n.nspname <> 'information_schema' OR t.oid >= 16384)
   AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
UNION ALL
-- Everything else a schema holds (operators, operator classes and families,
-- collations, conversions, text search objects, …): that it exists, by its
-- identity (names, never oids).
SELECT 'object', o.type || ' ' || o.identity, 'o', false, 'exists', n.nspname::text, NULL, NULL
  FROM pg_depend d
  JOIN pg_namespace n ON n.oid = d.refobjid
  CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, 0) o
 WHERE d.refclassid = 'pg_namespace'::regclass AND d.deptype = 'n' AND n.nspname = ANY ($1)
   AND (n.nspname <> 'information_schema' OR d.objid >= 16384)
   AND d.classid NOT IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass,
                         'pg_statistic_ext'::regclass)
UNION ALL
SELECT 'schema', quote_ident(n.nspname), 's', false,
       concat_ws(E'\n', 'owner ' || pg_get_userbyid(n.nspowner), 'acl ' || coalesce(n.nspacl::text, '-'),
                 'comment ' || obj_description(n.oid, 'pg_namespace')),
       n.nspname::text, NULL, NULL
  FROM pg_namespace n
 WHERE n.nspname = ANY ($1) AND n.nspname <> 'information_schema'
ORDER BY 1, 2
