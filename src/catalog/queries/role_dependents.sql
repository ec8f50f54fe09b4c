-- What DROP ROLE would trip over (pg_shdepend: owned objects, privileges, policies), for the
-- roles dbsplit created (their comment starts with its mark, `managed by dbsplit`): the only
-- ones `--prune` may drop, so the only ones whose dependents a plan reads. Per role,
-- grouped by database, kind, catalog and schema: a role owning a service's thousand tables is
-- one row, named after its first object (pg_identify_object, in this database only) with the
-- number of the others. Aggregates, not a window over every row sorted: `first` packs the
-- first object's (objid, objsubid) into one bigint, objsubid being 0 or a column number
-- (at most 1600, under 65536). The schema of a relation of this database comes from a hash
-- join with pg_class, that of the rare function, type or default privilege from a lookup.
WITH here AS (
    SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
), marked AS (
    SELECT d.objoid AS role
    FROM pg_catalog.pg_shdescription d
    WHERE d.classoid = 'pg_catalog.pg_authid'::regclass AND d.description LIKE 'managed by dbsplit%'
), deps AS (
    SELECT s.refobjid AS role, s.deptype, s.classid, s.objid, s.objsubid, s.dbid,
           CASE WHEN s.classid = 'pg_catalog.pg_database'::regclass THEN s.objid ELSE s.dbid END AS db,
           CASE WHEN here.oid IS NULL THEN NULL
                WHEN s.classid = 'pg_catalog.pg_class'::regclass THEN c.relnamespace
                WHEN s.classid = 'pg_catalog.pg_proc'::regclass
                THEN (SELECT p.pronamespace FROM pg_catalog.pg_proc p WHERE p.oid = s.objid)
                WHEN s.classid = 'pg_catalog.pg_type'::regclass
                THEN (SELECT t.typnamespace FROM pg_catalog.pg_type t WHERE t.oid = s.objid)
                WHEN s.classid = 'pg_catalog.pg_default_acl'::regclass
                THEN (SELECT a.defaclnamespace FROM pg_catalog.pg_default_acl a WHERE a.oid = s.objid)
                WHEN s.classid = 'pg_catalog.pg_namespace'::regclass THEN s.objid
           END AS nsp
    FROM pg_catalog.pg_shdepend s
    LEFT JOIN here ON here.oid = s.dbid
    LEFT JOIN pg_catalog.pg_class c
      ON here.oid IS NOT NULL AND s.classid = 'pg_catalog.pg_class'::regclass AND c.oid = s.objid
    WHERE s.refclassid = 'pg_catalog.pg_authid'::regclass AND s.deptype IN ('o', 'a', 'i', 'r')
      AND s.refobjid IN (SELECT role FROM marked)
), groups AS (
    SELECT role, deptype, classid, db, dbid, nsp,
           pg_catalog.count(*) AS objects,
           pg_catalog.min(objid::bigint * 65536 + objsubid) AS first
    FROM deps
    GROUP BY role, deptype, classid, db, dbid, nsp
)
SELECT r.rolname,
       d.datname::text AS database,
       g.deptype::text AS kind,
       g.classid::regclass::text AS catalog,
       CASE WHEN g.dbid = 0 OR g.dbid = (SELECT oid FROM here)
            THEN (SELECT i.type || ' ' || i.identity
                  FROM pg_catalog.pg_identify_object(g.classid, (g.first / 65536)::oid, (g.first % 65536)::integer) i) END AS object,
       g.objects - 1 AS others,
       n.nspname::text AS schema
FROM groups g
JOIN pg_catalog.pg_roles r ON r.oid = g.role
LEFT JOIN pg_catalog.pg_database d ON d.oid = g.db
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = g.nsp
ORDER BY r.rolname, g.dbid, g.classid, g.first
