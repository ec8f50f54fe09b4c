-- Foreign keys outside the system schemas. Constraints a partition inherits from its
-- partitioned parent (conparentid <> 0) are left out: one row per constraint as declared.
SELECT n.nspname, c.relname, k.conname, fn.nspname AS target_schema, f.relname AS target_table
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_class f ON f.oid = k.confrelid
JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
