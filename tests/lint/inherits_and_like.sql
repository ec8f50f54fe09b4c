CREATE TABLE invoice_users (LIKE monolith.users);
CREATE TABLE invoice_events () INHERITS (notifications.events);

-- expect: cross-schema-reference 1:34 monolith
-- expect: cross-schema-reference 2:42 notifications
