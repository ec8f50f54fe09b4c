SELECT * FROM invoices
WHERE user_id IN (SELECT id FROM monolith.users WHERE banned)
  AND EXISTS (SELECT 1 FROM notifications.outbox o WHERE o.invoice_id = invoices.id);

-- expect: cross-schema-reference 2:34 monolith
-- expect: cross-schema-reference 3:29 notifications
