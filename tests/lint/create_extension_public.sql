CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;

-- expect: create-in-public 1:53 public
