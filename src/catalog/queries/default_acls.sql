-- Default privileges; '' as schema for a role's global defaults.
SELECT pg_catalog.pg_get_userbyid(d.defaclrole) AS role,
       coalesce(n.nspname, '') AS schema,
       d.defaclobjtype::text AS objtype,
       d.defaclacl::text[] AS acl
FROM pg_catalog.pg_default_acl d
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
