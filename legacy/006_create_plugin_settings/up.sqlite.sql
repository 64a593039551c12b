-- 006: per-installation plugin settings.
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
