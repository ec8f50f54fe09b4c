CREATE VIEW invoice_users AS
SELECT i.id, u.email
FROM invoices i
JOIN monolith.users u ON u.id = i.user_id;

-- expect: cross-schema-reference 4:6 monolith
