-- Dependencies between objects of different schemas, each side named by the schema object it
-- belongs to: views and materialized views on relations (through their rewrite rules), column
-- types, column defaults (sequences, functions), trigger functions, function bodies
-- (BEGIN ATOMIC), domain base types. Foreign keys have their own query; extension members on
-- either side are left out. Each side's schema comes first, from oids alone: relations by
-- narrow hash joins with pg_class, the rare function or type by an index lookup. Most
-- dependencies stay within their schema (a serial column's default and its sequence); only
-- those that cross one are named and checked for extension members, by index lookups.
WITH deps AS (
    SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid,
           CASE d.classid
             WHEN 'pg_catalog.pg_rewrite'::regclass THEN r.ev_class
             WHEN 'pg_catalog.pg_attrdef'::regclass THEN a.adrelid
             WHEN 'pg_catalog.pg_trigger'::regclass THEN t.tgrelid
             WHEN 'pg_catalog.pg_class'::regclass THEN d.objid
           END AS relid
    FROM pg_catalog.pg_depend d
    LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid
    LEFT JOIN pg_catalog.pg_attrdef a ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND a.oid = d.objid
    LEFT JOIN pg_catalog.pg_trigger t ON d.classid = 'pg_catalog.pg_trigger'::regclass AND t.oid = d.objid
    WHERE d.deptype = 'n'
      AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_type'::regclass, 'pg_catalog.pg_proc'::regclass)
      AND d.classid IN ('pg_catalog.pg_rewrite'::regclass, 'pg_catalog.pg_class'::regclass,
                        'pg_catalog.pg_attrdef'::regclass, 'pg_catalog.pg_trigger'::regclass,
                        'pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_type'::regclass)
), placed AS (
    SELECT x.classid, x.objsubid, x.refclassid, x.refobjid,
           CASE WHEN x.relid IS NOT NULL THEN x.relid ELSE x.objid END AS src_oid,
           CASE WHEN x.relid IS NOT NULL THEN 'pg_catalog.pg_class'::regclass
                WHEN x.classid = 'pg_catalog.pg_proc'::regclass THEN 'pg_catalog.pg_proc'::regclass
                ELSE 'pg_catalog.pg_type'::regclass END AS src_class,
           sc.relkind AS src_relkind,
           CASE WHEN x.relid IS NOT NULL THEN sc.relnamespace
                WHEN x.classid = 'pg_catalog.pg_proc'::regclass
                THEN (SELECT p.pronamespace FROM pg_catalog.pg_proc p WHERE p.oid = x.objid)
                WHEN x.classid = 'pg_catalog.pg_type'::regclass
                THEN (SELECT t.typnamespace FROM pg_catalog.pg_type t WHERE t.oid = x.objid)
           END AS src_ns,
           CASE x.refclassid
             WHEN 'pg_catalog.pg_class'::regclass THEN tc.relnamespace
             WHEN 'pg_catalog.pg_proc'::regclass
             THEN (SELECT p.pronamespace FROM pg_catalog.pg_proc p WHERE p.oid = x.refobjid)
             WHEN 'pg_catalog.pg_type'::regclass
             THEN (SELECT t.typnamespace FROM pg_catalog.pg_type t WHERE t.oid = x.refobjid)
           END AS tgt_ns
    FROM deps x
    LEFT JOIN pg_catalog.pg_class sc ON sc.oid = x.relid
    LEFT JOIN pg_catalog.pg_class tc ON x.refclassid = 'pg_catalog.pg_class'::regclass AND tc.oid = x.refobjid
), crossing AS MATERIALIZED (
    SELECT * FROM placed WHERE src_ns <> tgt_ns
)
SELECT DISTINCT sn.nspname AS schema,
       CASE x.src_class
         WHEN 'pg_catalog.pg_class'::regclass
         THEN (SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.oid = x.src_oid)
         WHEN 'pg_catalog.pg_proc'::regclass
         THEN (SELECT p.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
               FROM pg_catalog.pg_proc p WHERE p.oid = x.src_oid)
         ELSE (SELECT t.typname::text FROM pg_catalog.pg_type t WHERE t.oid = x.src_oid)
       END AS object,
       coalesce(x.src_relkind::text, '') AS relkind,
       CASE x.classid
         WHEN 'pg_catalog.pg_rewrite'::regclass THEN 'view'
         WHEN 'pg_catalog.pg_attrdef'::regclass THEN 'column default'
         WHEN 'pg_catalog.pg_trigger'::regclass THEN 'trigger'
         WHEN 'pg_catalog.pg_proc'::regclass
         THEN CASE WHEN x.refclassid = 'pg_catalog.pg_type'::regclass
                   THEN 'function signature' ELSE 'function body' END
         WHEN 'pg_catalog.pg_type'::regclass THEN 'type'
         ELSE CASE WHEN x.objsubid > 0 THEN 'column type' ELSE 'relation' END
       END AS how,
       tn.nspname AS target_schema,
       CASE x.refclassid
         WHEN 'pg_catalog.pg_class'::regclass
         THEN (SELECT c.relname::text FROM pg_catalog.pg_class c WHERE c.oid = x.refobjid)
         WHEN 'pg_catalog.pg_proc'::regclass
         THEN (SELECT p.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
               FROM pg_catalog.pg_proc p WHERE p.oid = x.refobjid)
         ELSE (SELECT t.typname::text FROM pg_catalog.pg_type t WHERE t.oid = x.refobjid)
       END AS target_object
FROM crossing x
JOIN pg_catalog.pg_namespace sn ON sn.oid = x.src_ns
JOIN pg_catalog.pg_namespace tn ON tn.oid = x.tgt_ns
WHERE sn.nspname NOT LIKE 'pg\_%' AND sn.nspname <> 'information_schema'
  AND tn.nspname NOT LIKE 'pg\_%' AND tn.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                  WHERE e.classid = x.refclassid AND e.objid = x.refobjid AND e.deptype = 'e'
                  OFFSET 0)
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                  WHERE e.classid = x.src_class AND e.objid = x.src_oid AND e.deptype = 'e'
                  OFFSET 0)
