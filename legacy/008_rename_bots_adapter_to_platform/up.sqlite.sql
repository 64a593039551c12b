-- 008: "adapter" was renamed "platform" everywhere in the product.
ALTER TABLE bots RENAME COLUMN adapter TO platform;
ALTER TABLE bots RENAME COLUMN adapter_config TO platform_config;

-- SQLite cannot rename an index: recreate it under the new name.
DROP INDEX idx_bots_adapter;
CREATE INDEX idx_bots_platform ON bots (platform);
