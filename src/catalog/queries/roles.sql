-- Every role with its attributes, comment and memberships, on PostgreSQL 13 to 18 alike.
-- Each grant of membership comes with its grantor and options as JSON. PostgreSQL 16 added
-- pg_auth_members.inherit_option and set_option; reading them through to_jsonb(m) keeps this
-- one query text for every major: before 16 they are absent, INHERIT is the member's
-- rolinherit and SET is always possible.
SELECT r.rolname,
       r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolreplication, r.rolbypassrls, r.rolconnlimit,
       pg_catalog.shobj_description(r.oid, 'pg_authid') AS comment,
       ARRAY(SELECT DISTINCT g.rolname
             FROM pg_catalog.pg_auth_members m
             JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid
             ORDER BY 1) AS member_of,
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
                  'group', g.rolname,
                  'grantor', gr.rolname,
                  'admin', m.admin_option,
                  'inherit', coalesce((pg_catalog.to_jsonb(m) ->> 'inherit_option')::boolean, r.rolinherit),
                  'set', coalesce((pg_catalog.to_jsonb(m) ->> 'set_option')::boolean, true))
                ORDER BY g.rolname, gr.rolname), '[]')::text
        FROM pg_catalog.pg_auth_members m
        JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
        LEFT JOIN pg_catalog.pg_roles gr ON gr.oid = m.grantor
        WHERE m.member = r.oid) AS memberships
FROM pg_catalog.pg_roles r
