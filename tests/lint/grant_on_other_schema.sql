GRANT USAGE ON SCHEMA monolith TO billing_rw;
GRANT SELECT ON ALL TABLES IN SCHEMA notifications TO billing_rw;
GRANT SELECT ON monolith.users TO billing_rw;

-- expect: cross-schema-grant 1:23 monolith
-- expect: cross-schema-grant 2:38 notifications
-- expect: cross-schema-grant 3:17 monolith
