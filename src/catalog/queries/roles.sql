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
        WHERE m.member = r.oid) AS memberships,
       -- What DROP ROLE would trip over (pg_shdepend), as JSON: owned objects, privileges,
       -- policies, in which database; described and placed in a schema for this database.
       (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
                 'database', CASE WHEN s.classid = 'pg_catalog.pg_database'::regclass
                                  THEN (SELECT d.datname FROM pg_catalog.pg_database d WHERE d.oid = s.objid)
                                  ELSE (SELECT d.datname FROM pg_catalog.pg_database d WHERE d.oid = s.dbid) END,
                 'kind', s.deptype::text,
                 'catalog', s.classid::regclass::text,
                 'object', CASE WHEN s.dbid IN (0, (SELECT d.oid FROM pg_catalog.pg_database d
                                                    WHERE d.datname = pg_catalog.current_database()))
                                THEN (SELECT i.type || ' ' || i.identity
                                      FROM pg_catalog.pg_identify_object(s.classid, s.objid, s.objsubid) i) END,
                 'schema', CASE WHEN s.dbid = 0 THEN NULL
                                WHEN s.classid = 'pg_catalog.pg_class'::regclass THEN
                                  (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = s.objid)
                                WHEN s.classid = 'pg_catalog.pg_proc'::regclass THEN
                                  (SELECT n.nspname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = s.objid)
                                WHEN s.classid = 'pg_catalog.pg_type'::regclass THEN
                                  (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = s.objid)
                                WHEN s.classid = 'pg_catalog.pg_namespace'::regclass THEN
                                  (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = s.objid)
                                WHEN s.classid = 'pg_catalog.pg_default_acl'::regclass THEN
                                  (SELECT n.nspname FROM pg_catalog.pg_default_acl a JOIN pg_catalog.pg_namespace n ON n.oid = a.defaclnamespace WHERE a.oid = s.objid)
                           END)
                 ORDER BY s.dbid, s.classid, s.objid, s.objsubid), '[]')::text
        FROM pg_catalog.pg_shdepend s
        WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.refobjid = r.oid
          AND s.deptype IN ('o', 'a', 'i', 'r')) AS dependents
FROM pg_catalog.pg_roles r
