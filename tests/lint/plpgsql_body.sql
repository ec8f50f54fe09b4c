CREATE FUNCTION log_invoice() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- monolith.audit_log in a comment is fine
    INSERT INTO monolith.audit_log (message) VALUES ('invoice ' || NEW.id || ' for monolith.users');
    PERFORM count(*) FROM notifications.outbox;
    RETURN NEW;
END
$fn$;

-- expect: cross-schema-reference 5:27 notifications
-- expect: cross-schema-write 4:17 monolith
