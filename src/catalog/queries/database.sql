-- The current database: its ACL (the default ACL when datacl is NULL), and what the
-- session may read. It also switches JIT off for the session: the catalog queries that follow
-- are costed high enough on large clusters to be JIT-compiled, which costs more (about 0.8 s
-- on 500 schemas x 40 tables) than it saves.
SELECT d.datname,
       coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))::text[] AS acl,
       pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS can_read_passwords,
       pg_catalog.set_config('jit', 'off', false) AS jit
FROM pg_catalog.pg_database d
WHERE d.datname = pg_catalog.current_database()
