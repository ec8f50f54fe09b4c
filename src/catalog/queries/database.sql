-- The current database: owner and ACL (the default ACL when datacl is NULL), and what the
-- session may read.
SELECT d.datname,
       pg_catalog.pg_get_userbyid(d.datdba) AS owner,
       coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))::text[] AS acl,
       pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS can_read_passwords,
       pg_catalog.current_setting('server_version_num')::int AS server_version
FROM pg_catalog.pg_database d
WHERE d.datname = pg_catalog.current_database()
