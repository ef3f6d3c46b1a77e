-- The rewrite rules of relation $1 (an oid), as scope.sql would have
-- printed them: each rule but a view's own, then a view's query. The
-- server locks every relation a rule names to print it (ACCESS SHARE, to
-- the end of the transaction), so the host reads this for one relation per
-- short transaction. NULL parts (the relation is gone) print nothing.
SELECT concat_ws(E'\n',
         (SELECT string_agg(format('rule %s enabled=%s %s', quote_ident(r.rulename), r.ev_enabled, pg_get_ruledef(r.oid)),
                            E'\n' ORDER BY r.rulename)
            FROM pg_rewrite r WHERE r.ev_class = $1 AND r.rulename <> '_RETURN'),
         (SELECT 'definition ' || pg_get_viewdef(c.oid) FROM pg_class c WHERE c.oid = $1 AND c.relkind IN ('v', 'm')))
