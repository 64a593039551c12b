-- 012: pipelines.priority was stored as text ('10', ' 5'); make it an integer.
-- Values that are not integers become 0, as the application always treated them.
ALTER TABLE pipelines ALTER COLUMN priority DROP DEFAULT;
ALTER TABLE pipelines
    ALTER COLUMN priority TYPE INTEGER
    USING CASE WHEN btrim(priority) ~ '^-?[0-9]+$' THEN CAST(btrim(priority) AS INTEGER) ELSE 0 END;
ALTER TABLE pipelines ALTER COLUMN priority SET DEFAULT 0;
