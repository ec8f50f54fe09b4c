DO $$
BEGIN
    UPDATE monolith.users SET billed = true;
END
$$;

-- expect: cross-schema-write 3:12 monolith
-- expect: unparsed-statement 1:1
