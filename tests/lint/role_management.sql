CREATE ROLE billing_batch LOGIN;
ALTER ROLE billing_rw SET work_mem = '64MB';
ALTER USER billing_rw WITH CONNECTION LIMIT 5;
CREATE GROUP auditors;
DROP ROLE IF EXISTS billing_batch;
REVOKE ADMIN OPTION FOR billing_owner FROM billing_rw;
GRANT billing_owner TO billing_rw WITH INHERIT TRUE;

-- expect: role-management 1:1
-- expect: role-management 2:1
-- expect: role-management 3:1
-- expect: role-management 4:1
-- expect: role-management 5:1
-- expect: role-management 6:1
-- expect: role-management 7:1
-- expect: unparsed-statement 4:1
-- expect: unparsed-statement 6:1
-- expect: unparsed-statement 7:1
