DELETE FROM invoices USING monolith.users u WHERE u.id = invoices.user_id AND u.deleted;

-- expect: cross-schema-reference 1:28 monolith
