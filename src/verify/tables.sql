-- One row per schema asked for ($1): whether it exists, and one ordinary or partitioned table
-- in it to probe (the migration history only when it is the only one) with its first column.
SELECT s.name AS schema,
       n.oid IS NOT NULL AS present,
       t.relname::text AS "table",
       t.attname::text AS "column"
FROM unnest($1::text[]) AS s(name)
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
LEFT JOIN LATERAL (
    SELECT c.relname,
           (SELECT a.attname
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            LIMIT 1) AS attname
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace = n.oid
      AND c.relkind IN ('r', 'p')
      AND NOT c.relispartition
    ORDER BY c.relname = 'dbsplit_migrations', c.relname
    LIMIT 1
) t ON true
ORDER BY s.name
