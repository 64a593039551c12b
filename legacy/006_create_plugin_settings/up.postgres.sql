-- 006: per-installation plugin settings.
CREATE TABLE plugin_settings (
    id SERIAL PRIMARY KEY,
    plugin_author VARCHAR(255) NOT NULL,
    plugin_name VARCHAR(255) NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    priority INTEGER NOT NULL DEFAULT 0,
    config JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE UNIQUE INDEX ux_plugin_settings_author_name ON plugin_settings (plugin_author, plugin_name);
