DO $$
BEGIN
    CREATE ROLE helper;
    SET ROLE helper;
    GRANT SELECT ON invoices TO helper;
END
$$;

-- expect: grant-outside-service 5:33
-- expect: role-change 4:5
-- expect: role-management 3:5
-- expect: unparsed-statement 1:1
