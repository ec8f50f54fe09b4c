-- Per-role settings for the current database, and for all databases ('' as database).
SELECT r.rolname,
       coalesce(d.datname, '') AS datname,
       s.setconfig
FROM pg_catalog.pg_db_role_setting s
JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
WHERE s.setdatabase = 0 OR d.datname = pg_catalog.current_database()
