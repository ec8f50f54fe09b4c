CREATE TABLE users (id bigint PRIMARY KEY, monolith_id bigint);
SELECT * FROM users JOIN invoices ON invoices.user_id = users.id;

-- expect nothing: this is a near miss
