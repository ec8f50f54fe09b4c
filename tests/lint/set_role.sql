SET ROLE monolith_owner;
RESET ROLE;

-- expect: role-change 1:1 monolith
-- expect: role-change 2:1
