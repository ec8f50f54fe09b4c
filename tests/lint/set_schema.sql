ALTER TABLE invoices SET SCHEMA monolith;
ALTER TABLE invoices SET SCHEMA public;

-- expect: create-in-public 2:33 public
-- expect: cross-schema-write 1:33 monolith
-- expect: unparsed-statement 1:1
-- expect: unparsed-statement 2:1
