-- 015: providers get an API flavour; more built-in providers.
ALTER TABLE model_providers ADD COLUMN provider_type TEXT NOT NULL DEFAULT 'openai_compatible';

UPDATE model_providers SET provider_type = 'openai' WHERE name = 'openai';
UPDATE model_providers SET provider_type = 'anthropic' WHERE name = 'anthropic';
UPDATE model_providers SET provider_type = 'ollama' WHERE name = 'ollama';
UPDATE model_providers SET provider_type = 'azure_openai' WHERE name = 'azure_openai';

INSERT INTO model_providers (id, name, display_name, base_url, requires_api_key, enabled, provider_type) VALUES
    (6, 'gemini', 'Google Gemini', 'https://generativelanguage.googleapis.com/v1beta', TRUE, TRUE, 'gemini'),
    (7, 'moonshot', 'Moonshot AI', 'https://api.moonshot.cn/v1', TRUE, TRUE, 'openai_compatible'),
    (8, 'zhipu', 'Zhipu AI', 'https://open.bigmodel.cn/api/paas/v4', TRUE, TRUE, 'openai_compatible'),
    (9, 'siliconflow', 'SiliconFlow', 'https://api.siliconflow.cn/v1', TRUE, TRUE, 'openai_compatible'),
    (10, 'openrouter', 'OpenRouter', 'https://openrouter.ai/api/v1', TRUE, TRUE, 'openai_compatible');
