ALTER DEFAULT PRIVILEGES FOR ROLE billing_owner IN SCHEMA notifications
    GRANT SELECT ON TABLES TO billing_rw;

-- expect: cross-schema-grant 1:59 notifications
-- expect: unparsed-statement 1:1
