ALTER TABLE invoices
    ADD CONSTRAINT invoices_user_fk FOREIGN KEY (user_id) REFERENCES monolith.users (id) NOT VALID;

-- expect: cross-schema-fk 2:70 monolith
