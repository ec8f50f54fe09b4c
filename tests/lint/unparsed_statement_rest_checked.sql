ALTER TABLE invoices ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME invoices_seq);
CREATE TABLE refunds (invoice_id bigint REFERENCES monolith.invoices (id));

-- expect: cross-schema-fk 2:52 monolith
-- expect: unparsed-statement 1:1
