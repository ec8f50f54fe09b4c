INSERT INTO invoices (user_id) SELECT id FROM monolith.users;

-- expect: cross-schema-reference 1:47 monolith
