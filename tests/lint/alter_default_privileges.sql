ALTER DEFAULT PRIVILEGES IN SCHEMA billing GRANT SELECT ON TABLES TO monolith_rw;

-- expect: cross-schema-grant 1:70 monolith
-- expect: unparsed-statement 1:1
