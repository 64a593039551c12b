-- Baseline revision 0001_baseline (SQLite): the complete schema and reference rows
-- that the legacy chain 001..025 leaves behind, written out directly.
-- The legacy version marker row in metadata is written by ferry, not here.

CREATE TABLE metadata (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Users and their profiles ---------------------------------------------------

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'member',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_login_at TIMESTAMP,
    login_count INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER users_set_updated_at
AFTER UPDATE ON users
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE user_profiles (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    avatar_url TEXT,
    bio TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT '*',
    last_used_at TIMESTAMP,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    bot_id INTEGER REFERENCES bots (id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX ux_api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX idx_api_keys_user_id ON api_keys (user_id) WHERE revoked_at IS NULL;
CREATE INDEX idx_api_keys_bot_id ON api_keys (bot_id);

-- Models ---------------------------------------------------------------------

CREATE TABLE model_providers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    base_url TEXT NOT NULL DEFAULT '',
    requires_api_key BOOLEAN NOT NULL DEFAULT TRUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    provider_type TEXT NOT NULL DEFAULT 'openai_compatible'
);

CREATE TABLE llm_models (
    id INTEGER PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES model_providers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    supports_tools BOOLEAN NOT NULL DEFAULT FALSE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    input_price DOUBLE PRECISION NOT NULL DEFAULT 0,
    output_price DOUBLE PRECISION NOT NULL DEFAULT 0,
    supports_vision BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE UNIQUE INDEX ux_llm_models_provider_name ON llm_models (provider_id, name);

-- Pipelines ------------------------------------------------------------------

CREATE TABLE pipelines (
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

CREATE INDEX idx_pipelines_is_default ON pipelines (is_default);

CREATE TRIGGER pipelines_set_updated_at
AFTER UPDATE ON pipelines
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE pipelines SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE pipeline_stages (
    id INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    stage_order INTEGER NOT NULL,
    stage_type TEXT NOT NULL,
    config TEXT NOT NULL DEFAULT '{}',
    UNIQUE (pipeline_id, stage_order)
);

-- Bots -----------------------------------------------------------------------

CREATE TABLE bots (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    pipeline_id INTEGER REFERENCES pipelines (id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL,
    platform_config TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL DEFAULT '{}',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    llm_model_id INTEGER REFERENCES llm_models (id) ON DELETE SET NULL,
    deleted_at TIMESTAMP,
    last_active_at TIMESTAMP
);

CREATE INDEX idx_bots_platform ON bots (platform);
CREATE INDEX idx_bots_llm_model_id ON bots (llm_model_id);
CREATE UNIQUE INDEX ux_bots_uuid ON bots (uuid);
CREATE UNIQUE INDEX ux_bots_owner_name_active ON bots (owner_id, name) WHERE deleted_at IS NULL;
CREATE INDEX idx_bots_owner_enabled ON bots (owner_id, enabled);

CREATE TRIGGER bots_set_updated_at
AFTER UPDATE ON bots
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE bots SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE pipeline_runs (
    id INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    bot_id INTEGER REFERENCES bots (id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    started_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    finished_at TIMESTAMP
);

CREATE INDEX idx_pipeline_runs_pipeline_started ON pipeline_runs (pipeline_id, started_at);
CREATE INDEX idx_pipeline_runs_bot_id ON pipeline_runs (bot_id);
CREATE INDEX idx_pipeline_runs_unfinished ON pipeline_runs (status) WHERE finished_at IS NULL;

-- Plugins --------------------------------------------------------------------

CREATE TABLE plugin_settings (
    id INTEGER PRIMARY KEY,
    plugin_author TEXT NOT NULL,
    plugin_name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    priority INTEGER NOT NULL DEFAULT 0,
    config TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE UNIQUE INDEX ux_plugin_settings_author_name ON plugin_settings (plugin_author, plugin_name);

CREATE TRIGGER plugin_settings_set_updated_at
AFTER UPDATE ON plugin_settings
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE plugin_settings SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

-- Knowledge bases ------------------------------------------------------------

CREATE TABLE knowledge_bases (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    embedding_model TEXT NOT NULL DEFAULT 'text-embedding-3-small',
    top_k INTEGER NOT NULL DEFAULT 5,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP
);

CREATE UNIQUE INDEX ux_knowledge_bases_owner_name ON knowledge_bases (owner_id, name) WHERE deleted_at IS NULL;

CREATE TRIGGER knowledge_bases_set_updated_at
AFTER UPDATE ON knowledge_bases
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE knowledge_bases SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE kb_documents (
    id INTEGER PRIMARY KEY,
    knowledge_base_id INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL DEFAULT 'application/octet-stream',
    size_bytes INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    chunk_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_kb_documents_knowledge_base_id ON kb_documents (knowledge_base_id);

CREATE TABLE bot_knowledge_bases (
    bot_id INTEGER NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    knowledge_base_id INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (bot_id, knowledge_base_id)
);

CREATE INDEX idx_bot_knowledge_bases_knowledge_base_id ON bot_knowledge_bases (knowledge_base_id);

-- Audit ----------------------------------------------------------------------

CREATE TABLE audit_logs (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    ip_address TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_audit_logs_user_created ON audit_logs (user_id, created_at);
CREATE INDEX idx_audit_logs_target ON audit_logs (target_type, target_id);

CREATE VIEW bot_overview AS
SELECT b.id, b.uuid, b.name, b.platform, b.enabled, u.username AS owner_username,
       m.name AS model_name, b.last_active_at
FROM bots b
JOIN users u ON u.id = b.owner_id
LEFT JOIN llm_models m ON m.id = b.llm_model_id
WHERE b.deleted_at IS NULL;

-- Reference rows -------------------------------------------------------------

INSERT INTO model_providers (id, name, display_name, base_url, requires_api_key, enabled, provider_type) VALUES
    (1, 'openai', 'OpenAI', 'https://api.openai.com/v1', TRUE, TRUE, 'openai'),
    (2, 'anthropic', 'Anthropic', 'https://api.anthropic.com', TRUE, TRUE, 'anthropic'),
    (3, 'ollama', 'Ollama', 'http://127.0.0.1:11434', FALSE, TRUE, 'ollama'),
    (4, 'azure_openai', 'Azure OpenAI', '', TRUE, FALSE, 'azure_openai'),
    (5, 'deepseek', 'DeepSeek', 'https://api.deepseek.com', TRUE, TRUE, 'openai_compatible'),
    (6, 'gemini', 'Google Gemini', 'https://generativelanguage.googleapis.com/v1beta', TRUE, TRUE, 'gemini'),
    (7, 'moonshot', 'Moonshot AI', 'https://api.moonshot.cn/v1', TRUE, TRUE, 'openai_compatible'),
    (8, 'zhipu', 'Zhipu AI', 'https://open.bigmodel.cn/api/paas/v4', TRUE, TRUE, 'openai_compatible'),
    (9, 'siliconflow', 'SiliconFlow', 'https://api.siliconflow.cn/v1', TRUE, TRUE, 'openai_compatible'),
    (10, 'openrouter', 'OpenRouter', 'https://openrouter.ai/api/v1', TRUE, TRUE, 'openai_compatible');

INSERT INTO llm_models (id, provider_id, name, display_name, supports_tools, is_default, input_price, output_price, supports_vision) VALUES
    (1, 1, 'gpt-4o', 'GPT-4o', TRUE, TRUE, 2.5, 10, TRUE),
    (2, 1, 'gpt-4o-mini', 'GPT-4o mini', TRUE, FALSE, 0.15, 0.6, TRUE),
    (3, 1, 'gpt-3.5-turbo', 'GPT-3.5 Turbo', TRUE, FALSE, 0.5, 1.5, FALSE),
    (4, 2, 'claude-3-5-sonnet-20240620', 'Claude 3.5 Sonnet', TRUE, FALSE, 3, 15, TRUE),
    (5, 2, 'claude-3-haiku-20240307', 'Claude 3 Haiku', TRUE, FALSE, 0.25, 1.25, TRUE),
    (6, 3, 'llama3.1:8b', 'Llama 3.1 8B (local)', FALSE, FALSE, 0, 0, FALSE),
    (7, 5, 'deepseek-chat', 'DeepSeek Chat', TRUE, FALSE, 0.27, 1.1, FALSE),
    (8, 1, 'gpt-4.1', 'GPT-4.1', TRUE, FALSE, 2, 8, TRUE),
    (9, 2, 'claude-sonnet-4-20250514', 'Claude Sonnet 4', TRUE, FALSE, 3, 15, TRUE),
    (10, 6, 'gemini-2.5-pro', 'Gemini 2.5 Pro', TRUE, FALSE, 1.25, 10, TRUE),
    (11, 5, 'deepseek-reasoner', 'DeepSeek Reasoner', FALSE, FALSE, 0.55, 2.19, FALSE),
    (12, 7, 'kimi-k2-0711-preview', 'Kimi K2', TRUE, FALSE, 0.6, 2.5, FALSE);
