INSERT INTO monolith.audit_log (message) VALUES ('invoice created');

-- expect: cross-schema-write 1:13 monolith
