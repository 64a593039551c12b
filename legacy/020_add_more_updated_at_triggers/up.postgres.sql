-- 020: updated_at triggers for users, knowledge bases and plugin settings.
CREATE TRIGGER users_set_updated_at
BEFORE UPDATE ON users
FOR EACH ROW
EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER knowledge_bases_set_updated_at
BEFORE UPDATE ON knowledge_bases
FOR EACH ROW
EXECUTE FUNCTION set_updated_at();

CREATE TRIGGER plugin_settings_set_updated_at
BEFORE UPDATE ON plugin_settings
FOR EACH ROW
EXECUTE FUNCTION set_updated_at();
