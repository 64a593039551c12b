-- 008: "adapter" was renamed "platform" everywhere in the product.
ALTER TABLE bots RENAME COLUMN adapter TO platform;
ALTER TABLE bots RENAME COLUMN adapter_config TO platform_config;

ALTER INDEX idx_bots_adapter RENAME TO idx_bots_platform;
