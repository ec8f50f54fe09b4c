COMMENT ON TABLE monolith.users IS 'billing needs this';

-- expect: cross-schema-write 1:18 monolith
