-- Dependencies between objects of different schemas, each side named by the schema object it
-- belongs to: views and materialized views on relations (through their rewrite rules), column
-- types, column defaults (sequences, functions), trigger functions, function bodies
-- (BEGIN ATOMIC), domain base types. Foreign keys have their own query; extension members on
-- either side are left out.
WITH deps AS (
    SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid
    FROM pg_catalog.pg_depend d
    WHERE d.deptype = 'n'
      AND d.refclassid IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_type'::regclass, 'pg_catalog.pg_proc'::regclass)
      AND d.classid IN ('pg_catalog.pg_rewrite'::regclass, 'pg_catalog.pg_class'::regclass,
                        'pg_catalog.pg_attrdef'::regclass, 'pg_catalog.pg_trigger'::regclass,
                        'pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_type'::regclass)
), source AS (
    SELECT deps.*,
           CASE deps.classid
             WHEN 'pg_catalog.pg_rewrite'::regclass THEN (SELECT r.ev_class FROM pg_catalog.pg_rewrite r WHERE r.oid = deps.objid)
             WHEN 'pg_catalog.pg_attrdef'::regclass THEN (SELECT a.adrelid FROM pg_catalog.pg_attrdef a WHERE a.oid = deps.objid)
             WHEN 'pg_catalog.pg_trigger'::regclass THEN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid = deps.objid)
             WHEN 'pg_catalog.pg_class'::regclass THEN deps.objid
           END AS relid,
           CASE deps.classid
             WHEN 'pg_catalog.pg_rewrite'::regclass THEN 'view'
             WHEN 'pg_catalog.pg_attrdef'::regclass THEN 'column default'
             WHEN 'pg_catalog.pg_trigger'::regclass THEN 'trigger'
             WHEN 'pg_catalog.pg_proc'::regclass THEN 'function body'
             WHEN 'pg_catalog.pg_type'::regclass THEN 'type'
             ELSE CASE WHEN deps.objsubid > 0 THEN 'column type' ELSE 'relation' END
           END AS how
    FROM deps
), named AS (
    SELECT s.how,
           coalesce(sc.relnamespace, sp.pronamespace, st.typnamespace) AS src_ns,
           coalesce(sc.relname::text, sp.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(sp.oid) || ')', st.typname::text) AS src_name,
           coalesce(sc.oid, sp.oid, st.oid) AS src_oid,
           CASE WHEN sc.oid IS NOT NULL THEN 'pg_catalog.pg_class'::regclass
                WHEN sp.oid IS NOT NULL THEN 'pg_catalog.pg_proc'::regclass
                ELSE 'pg_catalog.pg_type'::regclass END AS src_class,
           sc.relkind::text AS src_relkind,
           s.refclassid, s.refobjid
    FROM source s
    LEFT JOIN pg_catalog.pg_class sc ON sc.oid = s.relid
    LEFT JOIN pg_catalog.pg_proc sp ON s.classid = 'pg_catalog.pg_proc'::regclass AND sp.oid = s.objid
    LEFT JOIN pg_catalog.pg_type st ON s.classid = 'pg_catalog.pg_type'::regclass AND st.oid = s.objid
)
SELECT DISTINCT sn.nspname AS schema, x.src_name AS object, coalesce(x.src_relkind, '') AS relkind,
       CASE WHEN x.how = 'function body' AND x.refclassid = 'pg_catalog.pg_type'::regclass
            THEN 'function signature' ELSE x.how END AS how,
       tn.nspname AS target_schema,
       coalesce(tc.relname::text, tp.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(tp.oid) || ')', tt.typname::text) AS target_object
FROM named x
JOIN pg_catalog.pg_namespace sn ON sn.oid = x.src_ns
LEFT JOIN pg_catalog.pg_class tc ON x.refclassid = 'pg_catalog.pg_class'::regclass AND tc.oid = x.refobjid
LEFT JOIN pg_catalog.pg_proc tp ON x.refclassid = 'pg_catalog.pg_proc'::regclass AND tp.oid = x.refobjid
LEFT JOIN pg_catalog.pg_type tt ON x.refclassid = 'pg_catalog.pg_type'::regclass AND tt.oid = x.refobjid
JOIN pg_catalog.pg_namespace tn ON tn.oid = coalesce(tc.relnamespace, tp.pronamespace, tt.typnamespace)
WHERE sn.oid <> tn.oid
  AND sn.nspname NOT LIKE 'pg\_%' AND sn.nspname <> 'information_schema'
  AND tn.nspname NOT LIKE 'pg\_%' AND tn.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.deptype = 'e' AND e.classid = x.refclassid AND e.objid = x.refobjid)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                  WHERE e.deptype = 'e' AND e.classid = x.src_class AND e.objid = x.src_oid)
