-- Tables, partitioned tables, views, materialized views, sequences, foreign tables and
-- composite types (CREATE TYPE ... AS, whose ACL is the type's) outside the system schemas,
-- except those that belong to an extension, grouped: one row per schema, kind, owner, ACL and
-- `linked` with the names that share them, so that owner and ACL are turned into text once per
-- group rather than once per object (a service's tables mostly share both). The groups are
-- formed on oids and the ACL as stored; names come after. `linked` marks a sequence owned by
-- a column (serial, identity): its owner follows the table's. It is read here only when the
-- caller turns the `false /* linked */` below into `true` (`audit`): pg_depend's links between
-- relations then take one hashed scan, about as long as the rest of this query. `plan` leaves
-- it false and reads the `linked` query only when some sequence's owner is to change, which
-- on a converged cluster none is. Extension members come from pg_extension through
-- pg_depend's index on the referenced object; a composite type's ACL from an index lookup,
-- evaluated for composite types only.
SELECT n.nspname,
       g.relkind::text AS relkind,
       pg_catalog.pg_get_userbyid(g.relowner) AS owner,
       coalesce(g.acl,
                pg_catalog.acldefault(CASE g.relkind WHEN 'S' THEN 's' WHEN 'c' THEN 'T' ELSE 'r' END::"char",
                                      g.relowner))::text[] AS acl,
       g.linked,
       g.names
FROM (
    SELECT c.relnamespace, c.relkind, c.relowner,
           CASE WHEN c.relkind = 'c'
                THEN (SELECT t.typacl FROM pg_catalog.pg_type t WHERE t.oid = c.reltype)
                ELSE c.relacl END AS acl,
           c.relkind = 'S' AND false /* linked */ AND EXISTS (
               SELECT FROM pg_catalog.pg_depend l
               WHERE l.classid = 'pg_catalog.pg_class'::regclass AND l.objid = c.oid AND l.objsubid = 0
                 AND l.refclassid = 'pg_catalog.pg_class'::regclass AND l.deptype IN ('a', 'i')) AS linked,
           pg_catalog.array_agg(c.relname) AS names
    FROM pg_catalog.pg_class c
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
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
    GROUP BY 1, 2, 3, 4, 5) g
JOIN pg_catalog.pg_namespace n ON n.oid = g.relnamespace
WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
