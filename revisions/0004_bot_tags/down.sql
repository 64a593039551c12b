DROP INDEX idx_bot_tags_tag;
DROP TABLE bot_tags;
