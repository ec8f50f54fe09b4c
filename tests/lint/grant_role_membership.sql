GRANT billing_rw TO monolith_owner;

-- expect: cross-schema-grant 1:21 monolith
-- expect: role-management 1:1
-- expect: unparsed-statement 1:1
