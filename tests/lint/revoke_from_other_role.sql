REVOKE ALL ON invoices FROM notifications_rw;

-- expect: cross-schema-grant 1:29 notifications
