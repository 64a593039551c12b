-- 005: bots reference their model by id instead of only by name inside config.
ALTER TABLE bots ADD COLUMN llm_model_id INTEGER REFERENCES llm_models (id) ON DELETE SET NULL;

-- Backfill from the model name stored in the bot's JSON config.
UPDATE bots
SET llm_model_id = (
    SELECT m.id
    FROM llm_models m
    WHERE m.name = bots.config ->> 'model'
    ORDER BY m.id
    LIMIT 1
)
WHERE bots.config ->> 'model' IS NOT NULL;

CREATE INDEX idx_bots_llm_model_id ON bots (llm_model_id);
