ALTER DEFAULT PRIVILEGES IN SCHEMA billing GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO billing_rw, analytics;

-- expect: grant-outside-service 2:64
-- expect: public-grant 1:74
-- expect: unparsed-statement 1:1
-- expect: unparsed-statement 2:1
