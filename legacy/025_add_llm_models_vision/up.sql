-- 025: image input support flag; the 2025 model catalogue (release 3.12.0, last legacy release).
ALTER TABLE llm_models ADD COLUMN supports_vision BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE llm_models SET supports_vision = TRUE
WHERE (provider_id = 1 AND name IN ('gpt-4o', 'gpt-4o-mini'))
   OR (provider_id = 2 AND name IN ('claude-3-5-sonnet-20240620', 'claude-3-haiku-20240307'));

INSERT INTO llm_models (id, provider_id, name, display_name, supports_tools, is_default, input_price, output_price, supports_vision) VALUES
    (8, 1, 'gpt-4.1', 'GPT-4.1', TRUE, FALSE, 2, 8, TRUE),
    (9, 2, 'claude-sonnet-4-20250514', 'Claude Sonnet 4', TRUE, FALSE, 3, 15, TRUE),
    (10, 6, 'gemini-2.5-pro', 'Gemini 2.5 Pro', TRUE, FALSE, 1.25, 10, TRUE),
    (11, 5, 'deepseek-reasoner', 'DeepSeek Reasoner', FALSE, FALSE, 0.55, 2.19, FALSE),
    (12, 7, 'kimi-k2-0711-preview', 'Kimi K2', TRUE, FALSE, 0.6, 2.5, FALSE);
