-- 021: a bot can answer from several knowledge bases.
CREATE TABLE bot_knowledge_bases (
    bot_id INTEGER NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    knowledge_base_id INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (bot_id, knowledge_base_id)
);

CREATE INDEX idx_bot_knowledge_bases_knowledge_base_id ON bot_knowledge_bases (knowledge_base_id);
