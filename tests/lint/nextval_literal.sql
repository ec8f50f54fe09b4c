CREATE TABLE credits (id bigint DEFAULT nextval('monolith.user_id_seq'));

-- expect: cross-schema-reference 1:49 monolith
