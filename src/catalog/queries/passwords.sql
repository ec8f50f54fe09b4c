-- Stored password verifiers, to leave unchanged passwords alone. Needs a superuser.
SELECT rolname, rolpassword
FROM pg_catalog.pg_authid
WHERE rolpassword IS NOT NULL
