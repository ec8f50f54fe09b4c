-- For audit: the bodies of SQL and PL/pgSQL functions written as strings (a BEGIN ATOMIC body
-- has an empty prosrc and its references are in pg_depend), with the search_path the function
-- sets, if any. System schemas, public and extension members are left out.
SELECT n.nspname AS schema,
       p.proname::text || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS function,
       l.lanname::text AS language,
       p.prosrc AS body,
       (SELECT substr(c, length('search_path=') + 1)
        FROM pg_catalog.unnest(p.proconfig) AS c
        WHERE c LIKE 'search\_path=%') AS search_path
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE l.lanname IN ('sql', 'plpgsql')
  AND p.prosrc <> ''
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT IN ('information_schema', 'public')
  AND NOT EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend e
      WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')
