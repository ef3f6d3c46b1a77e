-- The relations and functions in the digest's schemas ($1), each with its
-- catalog shape as text: everything a rollback must restore besides rows.
-- Names are quoted by the server (quote_ident), so the host can name them
-- in the COPY it builds without quoting anything itself.
SELECT 'relation' AS what,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
       c.relkind::text AS kind,
       (c.relkind = 'm' AND NOT c.relispopulated) AS unpopulated,
       concat_ws(E'\n',
         format('kind %s persistence %s rls %s force_rls %s', c.relkind, c.relpersistence,
                c.relrowsecurity, c.relforcerowsecurity),
         'owner ' || pg_get_userbyid(c.relowner),
         'acl ' || coalesce(c.relacl::text, '-'),
         'options ' || coalesce(c.reloptions::text, '-'),
         (SELECT string_agg(format('column %s %s not_null=%s default=%s identity=%s generated=%s collation=%s acl=%s',
                                   quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull,
                                   coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), a.attidentity, a.attgenerated,
                                   coalesce(co.collname, '-'), coalesce(a.attacl::text, '-')),
                            E'\n' ORDER BY a.attnum)
            FROM pg_attribute a
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_collation co ON co.oid = a.attcollation
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
         (SELECT string_agg(format('constraint %s %s', quote_ident(k.conname), pg_get_constraintdef(k.oid)),
                            E'\n' ORDER BY k.conname)
            FROM pg_constraint k WHERE k.conrelid = c.oid),
         (SELECT string_agg(def, E'\n' ORDER BY def)
            FROM (SELECT 'index ' || pg_get_indexdef(i.indexrelid) AS def FROM pg_index i WHERE i.indrelid = c.oid) ix),
         (SELECT string_agg(format('trigger %s enabled=%s %s', quote_ident(t.tgname), t.tgenabled, pg_get_triggerdef(t.oid)),
                            E'\n' ORDER BY t.tgname)
            FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
         (SELECT string_agg(format('policy %s %s permissive=%s roles=%s using=%s check=%s', quote_ident(p.polname),
                                   p.polcmd, p.polpermissive, p.polroles::text,
                                   coalesce(pg_get_expr(p.polqual, p.polrelid), '-'),
                                   coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')),
                            E'\n' ORDER BY p.polname)
            FROM pg_policy p WHERE p.polrelid = c.oid),
         (SELECT string_agg(format('rule %s %s', quote_ident(r.rulename), pg_get_ruledef(r.oid)), E'\n' ORDER BY r.rulename)
            FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN'),
         CASE WHEN c.relkind IN ('v', 'm') THEN 'definition ' || pg_get_viewdef(c.oid) END
       ) AS shape
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
UNION ALL
SELECT 'function', p.oid::regprocedure::text, p.prokind::text, false,
       concat_ws(E'\n', 'owner ' || pg_get_userbyid(p.proowner), 'acl ' || coalesce(p.proacl::text, '-'),
                 pg_get_functiondef(p.oid))
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY ($1) AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'schema', quote_ident(n.nspname), 's', false,
       concat_ws(E'\n', 'owner ' || pg_get_userbyid(n.nspowner), 'acl ' || coalesce(n.nspacl::text, '-'))
  FROM pg_namespace n
 WHERE n.nspname = ANY ($1)
ORDER BY 1, 2
