-- dbsplit:allow cross-schema-reference the nightly report joins users on purpose (ADR 12)
SELECT * FROM monolith.users;
SELECT * FROM monolith.users;

-- expect: cross-schema-reference 3:15 monolith
