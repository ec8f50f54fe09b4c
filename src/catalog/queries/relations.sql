-- Tables, partitioned tables, views, materialized views, sequences, foreign tables and
-- composite types (CREATE TYPE ... AS, whose ACL is the type's) outside the system schemas,
-- except those that belong to an extension, grouped: one row per schema, kind, owner, ACL and
-- `linked` with the names that share them, so that owner and ACL are turned into text once per
-- group rather than once per object (a service's tables mostly share both). `linked` marks a
-- sequence owned by a column (serial, identity): its owner follows the table's. Extension
-- members come from pg_extension through pg_depend's index on the referenced object, `linked`
-- and a composite type's ACL from an index lookup per sequence and per composite type: no
-- catalog but pg_class is read whole.
SELECT n.nspname,
       c.relkind::text AS relkind,
       pg_catalog.pg_get_userbyid(c.relowner) AS owner,
       coalesce(CASE WHEN c.relkind = 'c' THEN ty.typacl ELSE c.relacl END,
                pg_catalog.acldefault(CASE c.relkind WHEN 'S' THEN 's' WHEN 'c' THEN 'T' ELSE 'r' END::"char",
                                      c.relowner))::text[] AS acl,
       l.linked IS NOT NULL AS linked,
       pg_catalog.array_agg(c.relname::text) AS names
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT true AS linked
    FROM pg_catalog.pg_depend l
    WHERE c.relkind = 'S'
      AND l.classid = 'pg_catalog.pg_class'::regclass AND l.objid = c.oid AND l.objsubid = 0
      AND l.refclassid = 'pg_catalog.pg_class'::regclass AND l.deptype IN ('a', 'i')
    LIMIT 1) l ON true
LEFT JOIN LATERAL (
    SELECT t.typacl FROM pg_catalog.pg_type t WHERE c.relkind = 'c' AND t.oid = c.reltype LIMIT 1) ty ON true
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  AND c.oid NOT IN (
      SELECT e.objid
      FROM pg_catalog.pg_extension x
      JOIN pg_catalog.pg_depend e
        ON e.refclassid = 'pg_catalog.pg_extension'::regclass AND e.refobjid = x.oid
      WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.deptype = 'e')
  AND c.reltype NOT IN (
      SELECT e.objid
      FROM pg_catalog.pg_extension x
      JOIN pg_catalog.pg_depend e
        ON e.refclassid = 'pg_catalog.pg_extension'::regclass AND e.refobjid = x.oid
      WHERE e.classid = 'pg_catalog.pg_type'::regclass AND e.deptype = 'e')
GROUP BY n.nspname, c.relkind, c.relowner, c.relacl, ty.typacl, l.linked
