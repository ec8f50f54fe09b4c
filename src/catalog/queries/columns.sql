-- Column privileges, wherever a column has any.
SELECT n.nspname, c.relname, a.attname, a.attacl::text[] AS acl
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
