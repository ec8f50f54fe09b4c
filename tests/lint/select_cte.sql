WITH recent AS (SELECT id FROM monolith.users WHERE created_at > now() - interval '1 day')
SELECT count(*) FROM recent;

-- expect: cross-schema-reference 1:32 monolith
