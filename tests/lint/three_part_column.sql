SELECT monolith.users.email FROM invoices, monolith.users;

-- expect: cross-schema-reference 1:44 monolith
-- expect: cross-schema-reference 1:8 monolith
