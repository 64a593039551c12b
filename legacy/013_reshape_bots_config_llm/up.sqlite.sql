-- 013: bots.config groups the LLM settings under "llm":
--   {"model": "gpt-4o", "temp": 0.7, "max_tokens": 1024, ...}
--   -> {..., "llm": {"model": "gpt-4o", "temperature": 0.7, "max_tokens": 1024}}
-- Keys that were absent stay absent; other top-level keys are kept.
UPDATE bots
SET config = json_set(
    json_remove(config, '$.model', '$.temp', '$.max_tokens'),
    '$.llm',
    json_patch('{}', json_object(
        'model', json_extract(config, '$.model'),
        'temperature', json_extract(config, '$.temp'),
        'max_tokens', json_extract(config, '$.max_tokens')
    ))
)
WHERE json_valid(config)
  AND json_type(config) = 'object'
  AND json_type(config, '$.llm') IS NULL
  AND (json_type(config, '$.model') IS NOT NULL
       OR json_type(config, '$.temp') IS NOT NULL
       OR json_type(config, '$.max_tokens') IS NOT NULL);
