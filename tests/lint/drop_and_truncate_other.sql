DROP TABLE IF EXISTS monolith.users, billing.old;
TRUNCATE notifications.outbox;

-- expect: cross-schema-write 1:22 monolith
-- expect: cross-schema-write 2:10 notifications
