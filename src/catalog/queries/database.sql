-- The current database: its ACL (the default ACL when datacl is NULL), its owner, what the
-- session may read, who the session is and the server's major (server_version_num, read once
-- here for everything that depends on it). It also switches JIT off for the session: the
-- catalog queries that follow are costed high enough on large clusters to be JIT-compiled,
-- which costs more (about 0.8 s on 500 schemas x 40 tables) than it saves. And parallel
-- workers: on 10,000 tables, a parallel scan of pg_attribute took twice the time of a plain
-- one, the workers competing for the cores with the other session's queries.
SELECT d.datname,
       coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))::text[] AS acl,
       pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT') AS can_read_passwords,
       pg_catalog.set_config('jit', 'off', false) AS jit,
       pg_catalog.set_config('max_parallel_workers_per_gather', '0', false) AS parallel,
       pg_catalog.current_setting('server_version_num')::integer AS server_version_num,
       session_user::text AS session_user,
       pg_catalog.pg_get_userbyid(d.datdba)::text AS owner
FROM pg_catalog.pg_database d
WHERE d.datname = pg_catalog.current_database()
