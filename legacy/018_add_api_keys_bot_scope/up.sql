-- 018: an API key may be restricted to a single bot.
ALTER TABLE api_keys ADD COLUMN bot_id INTEGER REFERENCES bots (id) ON DELETE CASCADE;
CREATE INDEX idx_api_keys_bot_id ON api_keys (bot_id);
