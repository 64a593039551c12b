-- Seed rows for a database at legacy version >= 4: user-defined models.
-- 1001 matches the model name in the config of bot 1003 (backfilled by step 005).
INSERT INTO llm_models (id, provider_id, name, display_name, supports_tools, is_default) VALUES
    (1001, 1001, 'qwen2.5-72b-instruct', 'Qwen2.5 72B Instruct', TRUE, FALSE),
    (1002, 3, 'qwen2.5:14b', 'Qwen2.5 14B (local)', FALSE, FALSE);
