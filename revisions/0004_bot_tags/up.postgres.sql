-- Free-form tags to group bots in the dashboard.
CREATE TABLE bot_tags (
    id SERIAL PRIMARY KEY,
    bot_id INTEGER NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    tag VARCHAR(64) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (bot_id, tag)
);

CREATE INDEX idx_bot_tags_tag ON bot_tags (tag);
