CREATE TABLE invoices (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES monolith.users (id)
);

-- expect: cross-schema-fk 3:40 monolith
