-- 003: LLM model providers, with the built-in providers as reference rows.
CREATE TABLE model_providers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    base_url TEXT NOT NULL DEFAULT '',
    requires_api_key BOOLEAN NOT NULL DEFAULT TRUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);

-- Built-in providers keep ids below 100; user-defined providers get ids from 100 on.
INSERT INTO model_providers (id, name, display_name, base_url, requires_api_key, enabled) VALUES
    (1, 'openai', 'OpenAI', 'https://api.openai.com/v1', TRUE, TRUE),
    (2, 'anthropic', 'Anthropic', 'https://api.anthropic.com', TRUE, TRUE),
    (3, 'ollama', 'Ollama', 'http://127.0.0.1:11434', FALSE, TRUE),
    (4, 'azure_openai', 'Azure OpenAI', '', TRUE, FALSE),
    (5, 'deepseek', 'DeepSeek', 'https://api.deepseek.com', TRUE, TRUE);
