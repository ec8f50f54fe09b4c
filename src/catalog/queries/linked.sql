-- The sequences owned by a table column (serial, identity, OWNED BY), per schema: their owner
-- follows the table's, and ALTER SEQUENCE ... OWNER on one fails. For `plan`, read only when
-- some sequence's owner is to change (`audit` reads them with the relations instead).
SELECT n.nspname, pg_catalog.array_agg(c.relname) AS names
FROM pg_catalog.pg_depend l
JOIN pg_catalog.pg_class c ON c.oid = l.objid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE l.classid = 'pg_catalog.pg_class'::regclass AND l.objsubid = 0
  AND l.refclassid = 'pg_catalog.pg_class'::regclass AND l.deptype IN ('a', 'i')
  AND c.relkind = 'S'
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
GROUP BY n.nspname
