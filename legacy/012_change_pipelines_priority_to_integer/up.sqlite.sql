-- 012: pipelines.priority was stored as text ('10', ' 5'); make it an integer.
-- SQLite cannot change a column type in place: rebuild the table.
-- pipeline_stages, pipeline_runs (ON DELETE CASCADE) and bots (ON DELETE SET NULL)
-- reference pipelines(id); the runner keeps foreign_keys off during the step,
-- so dropping the old table deletes nothing, and the ids are copied unchanged.
CREATE TABLE pipelines_new (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    config TEXT NOT NULL DEFAULT '{}',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO pipelines_new (id, uuid, name, description, priority, config, is_default, created_at, updated_at)
SELECT id, uuid, name, description, CAST(TRIM(priority) AS INTEGER), config, is_default, created_at, updated_at
FROM pipelines;

DROP TABLE pipelines;
ALTER TABLE pipelines_new RENAME TO pipelines;

-- DROP TABLE took the indexes and triggers of the old table with it.
CREATE INDEX idx_pipelines_is_default ON pipelines (is_default);

CREATE TRIGGER pipelines_set_updated_at
AFTER UPDATE ON pipelines
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE pipelines SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
