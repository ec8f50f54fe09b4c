ALTER TABLE invoices OWNER TO monolith_owner;

-- expect: cross-schema-grant 1:31 monolith
