CREATE POLICY own_rows ON invoices
    USING (user_id IN (SELECT id FROM monolith.users WHERE active));

-- expect: cross-schema-reference 2:39 monolith
