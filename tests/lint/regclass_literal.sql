SELECT 'monolith.users'::regclass, pg_relation_size('billing.invoices'::regclass);

-- expect: cross-schema-reference 1:8 monolith
