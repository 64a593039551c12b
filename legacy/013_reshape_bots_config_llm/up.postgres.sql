-- 013: bots.config groups the LLM settings under "llm":
--   {"model": "gpt-4o", "temp": 0.7, "max_tokens": 1024, ...}
--   -> {..., "llm": {"model": "gpt-4o", "temperature": 0.7, "max_tokens": 1024}}
-- Keys that were absent stay absent; other top-level keys are kept.
UPDATE bots
SET config = (config - 'model' - 'temp' - 'max_tokens')
    || jsonb_build_object('llm', jsonb_strip_nulls(jsonb_build_object(
        'model', config -> 'model',
        'temperature', config -> 'temp',
        'max_tokens', config -> 'max_tokens'
    )))
WHERE jsonb_typeof(config) = 'object'
  AND config -> 'llm' IS NULL
  AND (config -> 'model' IS NOT NULL
       OR config -> 'temp' IS NOT NULL
       OR config -> 'max_tokens' IS NOT NULL);
