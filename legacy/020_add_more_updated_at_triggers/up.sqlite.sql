-- 020: updated_at triggers for users, knowledge bases and plugin settings.
CREATE TRIGGER users_set_updated_at
AFTER UPDATE ON users
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TRIGGER knowledge_bases_set_updated_at
AFTER UPDATE ON knowledge_bases
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE knowledge_bases SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TRIGGER plugin_settings_set_updated_at
AFTER UPDATE ON plugin_settings
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE plugin_settings SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
