\connect app
SELECT 1;
\i other.sql

-- expect: psql-meta-command 1:1
-- expect: psql-meta-command 3:1
