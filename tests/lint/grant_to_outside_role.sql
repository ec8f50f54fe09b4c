GRANT SELECT, UPDATE (amount) ON invoices TO analytics, billing_rw;
GRANT USAGE ON SCHEMA billing TO GROUP "Reporting" WITH GRANT OPTION;
GRANT SELECT ON invoices TO SESSION_USER;

-- expect: grant-outside-service 1:46
-- expect: grant-outside-service 2:40
-- expect: grant-outside-service 3:29
