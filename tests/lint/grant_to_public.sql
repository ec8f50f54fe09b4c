GRANT SELECT ON invoices TO PUBLIC;
GRANT EXECUTE ON FUNCTION total(bigint) TO billing_rw, public;

-- expect: public-grant 1:29
-- expect: public-grant 2:56
