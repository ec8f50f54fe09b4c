-- dbsplit:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_user_idx ON invoices (user_id);

-- expect nothing: CREATE INDEX CONCURRENTLY is fine in a no-transaction file
