CREATE TABLE billing.invoices (id bigint PRIMARY KEY);
INSERT INTO billing.invoices SELECT id FROM billing.invoices_old;
SELECT nextval('billing.invoices_id_seq');

-- expect nothing: this is a near miss
