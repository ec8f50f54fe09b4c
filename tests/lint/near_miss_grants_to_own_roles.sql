GRANT SELECT, INSERT ON invoices TO billing_rw, billing_owner, CURRENT_USER;
GRANT SELECT (amount, "to") ON invoices TO billing_rw;
REVOKE ALL ON invoices FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION total(bigint) FROM PUBLIC, analytics;
ALTER DEFAULT PRIVILEGES IN SCHEMA billing GRANT SELECT ON TABLES TO billing_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA billing REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER TABLE invoices OWNER TO billing_owner;
CREATE TABLE role (id bigint, "user" text, grantee text DEFAULT 'PUBLIC');
CREATE USER MAPPING FOR billing_owner SERVER ledger OPTIONS (user 'ledger');
SELECT 'GRANT SELECT ON invoices TO PUBLIC', 'CREATE ROLE x';
-- GRANT SELECT ON invoices TO PUBLIC;

-- expect: unparsed-statement 4:1
-- expect: unparsed-statement 5:1
-- expect: unparsed-statement 6:1
-- expect: unparsed-statement 9:1
