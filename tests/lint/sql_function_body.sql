CREATE FUNCTION user_count() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*)
    FROM monolith.users
$$;

-- expect: cross-schema-reference 3:10 monolith
