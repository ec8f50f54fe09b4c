-- What DROP ROLE would trip over (pg_shdepend: owned objects, privileges, policies), per role,
-- grouped by database, kind, catalog and schema: a role owning a service's thousand tables is
-- one row, named after its first object (pg_identify_object, in this database only) with the
-- number of the others. The schema of an object of this database comes from joins, not from a
-- lookup per object.
WITH here AS (
    SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
), deps AS (
    SELECT s.refobjid AS role, s.deptype, s.classid, s.objid, s.objsubid, s.dbid,
           CASE WHEN s.classid = 'pg_catalog.pg_database'::regclass THEN s.objid ELSE s.dbid END AS db,
           coalesce(c.relnamespace, p.pronamespace, t.typnamespace, a.defaclnamespace, nsp.oid) AS nsp
    FROM pg_catalog.pg_shdepend s
    LEFT JOIN here ON here.oid = s.dbid
    LEFT JOIN pg_catalog.pg_class c
      ON here.oid IS NOT NULL AND s.classid = 'pg_catalog.pg_class'::regclass AND c.oid = s.objid
    LEFT JOIN pg_catalog.pg_proc p
      ON here.oid IS NOT NULL AND s.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = s.objid
    LEFT JOIN pg_catalog.pg_type t
      ON here.oid IS NOT NULL AND s.classid = 'pg_catalog.pg_type'::regclass AND t.oid = s.objid
    LEFT JOIN pg_catalog.pg_default_acl a
      ON here.oid IS NOT NULL AND s.classid = 'pg_catalog.pg_default_acl'::regclass AND a.oid = s.objid
    LEFT JOIN pg_catalog.pg_namespace nsp
      ON here.oid IS NOT NULL AND s.classid = 'pg_catalog.pg_namespace'::regclass AND nsp.oid = s.objid
    WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.deptype IN ('o', 'a', 'i', 'r')
), groups AS (
    SELECT role, deptype, classid, db, dbid, nsp, objid, objsubid,
           pg_catalog.count(*) OVER w AS objects,
           pg_catalog.row_number() OVER (w ORDER BY objid, objsubid) AS n
    FROM deps
    WINDOW w AS (PARTITION BY role, deptype, classid, db, nsp)
)
SELECT r.rolname,
       d.datname::text AS database,
       g.deptype::text AS kind,
       g.classid::regclass::text AS catalog,
       CASE WHEN g.dbid = 0 OR g.dbid = (SELECT oid FROM here)
            THEN (SELECT i.type || ' ' || i.identity
                  FROM pg_catalog.pg_identify_object(g.classid, g.objid, g.objsubid) i) END AS object,
       g.objects - 1 AS others,
       n.nspname::text AS schema
FROM groups g
JOIN pg_catalog.pg_roles r ON r.oid = g.role
LEFT JOIN pg_catalog.pg_database d ON d.oid = g.db
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = g.nsp
WHERE g.n = 1
ORDER BY r.rolname, g.dbid, g.classid, g.objid, g.objsubid
