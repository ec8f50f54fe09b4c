GRANT billing_rw TO monolith_owner;

-- expect: cross-schema-grant 1:21 monolith
-- expect: unparsed-statement 1:1
