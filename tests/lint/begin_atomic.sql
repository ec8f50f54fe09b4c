CREATE FUNCTION user_count() RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
    SELECT count(*) FROM monolith.users;
END;

-- expect: cross-schema-reference 3:26 monolith
-- expect: unparsed-statement 1:1
