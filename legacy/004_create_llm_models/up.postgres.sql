-- 004: the LLM models a bot can use, with the built-in catalogue as reference rows.
CREATE TABLE llm_models (
    id SERIAL PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES model_providers (id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    display_name VARCHAR(255) NOT NULL,
    supports_tools BOOLEAN NOT NULL DEFAULT FALSE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX idx_llm_models_provider_id ON llm_models (provider_id);

INSERT INTO llm_models (id, provider_id, name, display_name, supports_tools, is_default) VALUES
    (1, 1, 'gpt-4o', 'GPT-4o', TRUE, TRUE),
    (2, 1, 'gpt-4o-mini', 'GPT-4o mini', TRUE, FALSE),
    (3, 1, 'gpt-3.5-turbo', 'GPT-3.5 Turbo', TRUE, FALSE),
    (4, 2, 'claude-3-5-sonnet-20240620', 'Claude 3.5 Sonnet', TRUE, FALSE),
    (5, 2, 'claude-3-haiku-20240307', 'Claude 3 Haiku', TRUE, FALSE),
    (6, 3, 'llama3.1:8b', 'Llama 3.1 8B (local)', FALSE, FALSE),
    (7, 5, 'deepseek-chat', 'DeepSeek Chat', TRUE, FALSE);

SELECT setval(pg_get_serial_sequence('llm_models', 'id'), 100, false);
