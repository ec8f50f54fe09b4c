-- Types created on their own (enums, domains, ranges, composite types), not the row types of
-- tables, array types or multiranges, which follow their base; extension members left out.
SELECT n.nspname,
       t.typname,
       t.typtype::text AS typtype,
       pg_catalog.pg_get_userbyid(t.typowner) AS owner,
       coalesce(t.typacl, pg_catalog.acldefault('T', t.typowner))::text[] AS acl
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
  AND (t.typtype <> 'c' OR t.typrelid IN (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relkind = 'c'))
  AND t.typtype <> 'm'
  AND NOT (t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1)
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend e
      WHERE e.classid = 'pg_catalog.pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e')
