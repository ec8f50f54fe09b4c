CREATE TRIGGER user_created AFTER INSERT ON monolith.users
    FOR EACH ROW EXECUTE FUNCTION billing.on_user_created();

-- expect: cross-schema-write 1:45 monolith
