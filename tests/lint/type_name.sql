CREATE TABLE moods (mood monolith.mood NOT NULL);
SELECT 'happy'::monolith.mood;

-- expect: cross-schema-reference 1:26 monolith
-- expect: cross-schema-reference 2:17 monolith
