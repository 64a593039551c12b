ALTER TABLE messages ADD COLUMN sent_at TEXT;
UPDATE messages SET sent_at = '2024-01-01 00:00:00';
