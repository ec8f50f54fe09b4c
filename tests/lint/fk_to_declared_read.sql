-- Reading reference is declared, but a foreign key into it still couples the two schemas.
ALTER TABLE invoices ADD FOREIGN KEY (currency) REFERENCES reference.currencies (code);

-- expect: cross-schema-fk 2:60 reference
