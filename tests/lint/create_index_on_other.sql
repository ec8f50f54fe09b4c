CREATE INDEX users_email_idx ON monolith.users (email);

-- expect: cross-schema-write 1:33 monolith
