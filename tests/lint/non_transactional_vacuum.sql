DROP INDEX CONCURRENTLY IF EXISTS invoices_old_idx;
VACUUM (ANALYZE) invoices;

-- expect: non-transactional-statement 1:1
-- expect: non-transactional-statement 2:1
-- expect: unparsed-statement 1:1
-- expect: unparsed-statement 2:1
