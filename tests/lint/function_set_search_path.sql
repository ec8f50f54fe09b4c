CREATE FUNCTION total() RETURNS bigint LANGUAGE sql SET search_path = monolith
AS $$ SELECT 1::bigint $$;

-- expect: search-path-change 1:71 monolith
