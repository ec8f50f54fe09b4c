-- Tables, partitioned tables, views, materialized views, sequences and foreign tables outside
-- the system schemas, except those that belong to an extension. `linked` marks a sequence owned
-- by a column (serial, identity): its owner follows the table's.
SELECT n.nspname,
       c.relname,
       c.relkind::text AS relkind,
       pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       coalesce(c.relacl, pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text[] AS acl,
       (c.relkind = 'S' AND EXISTS (
           SELECT 1 FROM pg_catalog.pg_depend l
           WHERE l.classid = 'pg_catalog.pg_class'::regclass AND l.objid = c.oid
             AND l.refclassid = 'pg_catalog.pg_class'::regclass AND l.deptype IN ('a', 'i'))) AS linked
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend e
      WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
