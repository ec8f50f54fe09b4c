-- Every role with its attributes, comment and memberships. Only the pg_auth_members columns
-- common to PostgreSQL 13-17 are read (16 added inherit_option and set_option).
SELECT r.rolname,
       r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolreplication, r.rolbypassrls, r.rolconnlimit,
       pg_catalog.shobj_description(r.oid, 'pg_authid') AS comment,
       EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s
               WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = r.oid
                 AND s.deptype IN ('o', 'a', 'i')) AS has_dependents,
       ARRAY(SELECT g.rolname
             FROM pg_catalog.pg_auth_members m
             JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid
             ORDER BY 1) AS member_of
FROM pg_catalog.pg_roles r
