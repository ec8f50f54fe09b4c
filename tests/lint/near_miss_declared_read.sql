SELECT i.amount * r.rate
FROM invoices i JOIN reference.rates r ON r.code = i.currency
WHERE reference.is_active(r.code);

-- expect nothing: this is a near miss
