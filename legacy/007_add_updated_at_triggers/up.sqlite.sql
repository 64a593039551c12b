-- 007: keep updated_at current without relying on the application.
CREATE TRIGGER bots_set_updated_at
AFTER UPDATE ON bots
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE bots SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TRIGGER pipelines_set_updated_at
AFTER UPDATE ON pipelines
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE pipelines SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
