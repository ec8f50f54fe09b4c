-- Functions, procedures and aggregates outside the system schemas, except extension members.
SELECT n.nspname,
       p.proname,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
       p.prokind::text AS prokind,
       pg_catalog.pg_get_userbyid(p.proowner) AS owner,
       coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::text[] AS acl
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend e
      WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
