SELECT monolith.user_name(user_id) FROM invoices;
CREATE TABLE credits (id bigint DEFAULT monolith.next_id());

-- expect: cross-schema-reference 1:8 monolith
-- expect: cross-schema-reference 2:41 monolith
