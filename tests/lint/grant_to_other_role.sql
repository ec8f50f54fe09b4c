GRANT SELECT ON invoices TO monolith_rw;

-- expect: cross-schema-grant 1:29 monolith
