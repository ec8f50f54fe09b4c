CREATE MATERIALIZED VIEW pending AS SELECT * FROM notifications.outbox;

-- expect: cross-schema-reference 1:51 notifications
