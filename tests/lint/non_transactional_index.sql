CREATE INDEX CONCURRENTLY invoices_user_idx ON invoices (user_id);

-- expect: non-transactional-statement 1:1
