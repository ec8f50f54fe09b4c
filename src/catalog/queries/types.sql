-- Types created on their own (enums, domains, ranges, base types) outside the system schemas,
-- not array types or multiranges, which follow their base, nor composite types: table row
-- types follow their table and the relations query reads CREATE TYPE ... AS (it reads pg_class
-- anyway), so that this one reads pg_type alone. Extension members are left out.
SELECT n.nspname,
       t.typname,
       t.typtype::text AS typtype,
       pg_catalog.pg_get_userbyid(t.typowner) AS owner,
       coalesce(t.typacl, pg_catalog.acldefault('T', t.typowner))::text[] AS acl
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype NOT IN ('c', 'm')
  AND NOT (t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1)
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  AND t.oid NOT IN (
      SELECT e.objid
      FROM pg_catalog.pg_extension x
      JOIN pg_catalog.pg_depend e
        ON e.refclassid = 'pg_catalog.pg_extension'::regclass AND e.refobjid = x.oid
      WHERE e.classid = 'pg_catalog.pg_type'::regclass AND e.deptype = 'e')
