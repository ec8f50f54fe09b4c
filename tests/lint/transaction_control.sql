BEGIN;
CREATE TABLE invoices (id bigint);
COMMIT;

-- expect: transaction-control 1:1
-- expect: transaction-control 3:1
