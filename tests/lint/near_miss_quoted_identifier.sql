CREATE TABLE ledger ("billing" text, "monolith" text, notifications int);
SELECT ledger."monolith", "billing", monolith.id
FROM ledger JOIN invoices AS monolith ON true;

-- expect nothing: this is a near miss
