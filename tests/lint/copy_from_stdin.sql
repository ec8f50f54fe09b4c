COPY invoices (id, note) FROM stdin;
1	O'Brien; "monolith.users"
\.
SELECT * FROM monolith.users;

-- expect: copy-from-stdin 1:1
-- expect: cross-schema-reference 4:15 monolith
