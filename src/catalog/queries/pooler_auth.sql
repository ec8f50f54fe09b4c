-- For [pooler] auth = "auth_query" (src/pooler/auth_query.rs): who may read pg_shadow, and the
-- definition of PgBouncer's lookup function pgbouncer.get_auth(text) when it exists. One row.
SELECT (SELECT coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))::text[]
        FROM pg_catalog.pg_class c
        WHERE c.oid = 'pg_catalog.pg_shadow'::pg_catalog.regclass) AS shadow_acl,
       p.oid IS NOT NULL AS found,
       l.lanname::text AS language,
       p.prosecdef AS security_definer,
       coalesce(p.proconfig, '{}')::text[] AS config,
       pg_catalog.pg_get_function_result(p.oid) AS result,
       p.prosrc AS body
FROM (SELECT pg_catalog.to_regprocedure('pgbouncer.get_auth(text)') AS oid) f
LEFT JOIN pg_catalog.pg_proc p ON p.oid = f.oid
LEFT JOIN pg_catalog.pg_language l ON l.oid = p.prolang
