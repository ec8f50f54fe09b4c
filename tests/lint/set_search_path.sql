SET search_path TO monolith, public;
SET LOCAL search_path = billing, reference;

-- expect: search-path-change 1:20 monolith
-- expect: search-path-change 1:30 public
