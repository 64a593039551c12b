-- 023: remember when a bot last handled a message (shown in the bot list).
ALTER TABLE bots ADD COLUMN last_active_at TIMESTAMP;

UPDATE bots
SET last_active_at = (
    SELECT MAX(r.started_at)
    FROM pipeline_runs r
    WHERE r.bot_id = bots.id
)
WHERE EXISTS (SELECT 1 FROM pipeline_runs r WHERE r.bot_id = bots.id);
