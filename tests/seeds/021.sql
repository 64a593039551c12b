-- Seed rows for a database at legacy version >= 21: bots answering from knowledge bases.
INSERT INTO bot_knowledge_bases (bot_id, knowledge_base_id, created_at) VALUES
    (1001, 1001, '2023-10-01 10:00:00'),
    (1002, 1001, '2023-10-01 10:01:00'),
    (1003, 1003, '2023-10-02 10:00:00');
