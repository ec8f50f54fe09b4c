-- SELECT * FROM monolith.users;
/* notifications.outbox /* nested: monolith.audit_log */ still a comment */
SELECT 1; -- monolith.x

-- expect nothing: this is a near miss
