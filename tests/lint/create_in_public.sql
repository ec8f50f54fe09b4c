CREATE TABLE public.invoices (id bigint);
CREATE FUNCTION public.total() RETURNS int LANGUAGE sql AS 'SELECT 1';

-- expect: create-in-public 1:14 public
-- expect: create-in-public 2:17 public
