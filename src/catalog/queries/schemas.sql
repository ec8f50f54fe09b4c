-- Every schema but the system ones, with owner and ACL (the default ACL when nspacl is NULL).
SELECT n.nspname,
       pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
       coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))::text[] AS acl
FROM pg_catalog.pg_namespace n
WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
