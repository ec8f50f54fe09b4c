UPDATE invoices SET email = u.email
FROM monolith.users u
WHERE u.id = invoices.user_id;

-- expect: cross-schema-reference 2:6 monolith
