CREATE TRIGGER invoices_touch BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION monolith.touch();

-- expect: cross-schema-reference 2:35 monolith
