CREATE TABLE invoices (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL,
    CONSTRAINT invoices_user_fk FOREIGN KEY (user_id) REFERENCES monolith.users (id)
);

-- expect: cross-schema-fk 4:66 monolith
