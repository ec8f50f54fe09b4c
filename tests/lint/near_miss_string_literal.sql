INSERT INTO notes (body) VALUES ('see monolith.users'), (E'monolith.users\'s'), ($$notifications.outbox$$);
SELECT 'monolith.users' AS "name";

-- expect nothing: this is a near miss
