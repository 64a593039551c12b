-- Seed rows for a database at legacy version >= 1 (valid on SQLite and PostgreSQL).
-- Explicit ids >= 1001 never collide with sequences or reference rows.
-- bots.config is in the pre-013 shape {"model": ..., "temp": ...}.

INSERT INTO users (id, username, email, password_hash, password_salt, avatar_url, bio, timezone, role, created_at, updated_at) VALUES
    (1001, 'alice', 'alice@example.com', 'pbkdf2:sha256:260000$a1$9c1f0e', 'a1', 'https://cdn.example.com/avatars/alice.png', 'Builds the support bots.', 'Europe/Berlin', 'admin', '2023-01-05 10:00:00', '2023-02-01 08:30:00'),
    (1002, 'bob', 'bob@example.com', 'pbkdf2:sha256:260000$b2$77aa01', 'b2', NULL, NULL, NULL, 'member', '2023-01-07 12:15:00', '2023-01-07 12:15:00'),
    (1003, 'carol', 'carol@example.org', 'pbkdf2:sha256:260000$c3$0bd4e2', 'c3', NULL, 'QA; likes "edge cases".', 'Asia/Shanghai', 'member', '2023-03-11 09:00:00', '2023-03-12 18:45:00');

-- priorities are text before step 012: a plain number, a padded number, and garbage
INSERT INTO pipelines (id, uuid, name, description, priority, config, is_default, created_at, updated_at) VALUES
    (1001, '6f1c2b1e-0d5a-4c43-9a57-1b1a7f3e0001', 'Default chat', 'General purpose chat pipeline', '10', '{"stream": true}', TRUE, '2023-01-05 10:05:00', '2023-01-05 10:05:00'),
    (1002, '6f1c2b1e-0d5a-4c43-9a57-1b1a7f3e0002', 'Support triage', 'Routes tickets; answers FAQs', ' 5', '{"stream": false, "fallback": "human"}', FALSE, '2023-01-06 11:00:00', '2023-01-20 16:00:00'),
    (1003, '6f1c2b1e-0d5a-4c43-9a57-1b1a7f3e0003', 'Experimental', '', 'high', '{}', FALSE, '2023-03-11 09:30:00', '2023-03-11 09:30:00');

-- children of pipelines (ON DELETE CASCADE): they must survive the rebuild in step 012
INSERT INTO pipeline_stages (id, pipeline_id, stage_order, stage_type, config) VALUES
    (1001, 1001, 1, 'preprocess', '{"strip_mentions": true}'),
    (1002, 1001, 2, 'llm', '{}'),
    (1003, 1001, 3, 'reply', '{"split_long_messages": true}'),
    (1004, 1002, 1, 'preprocess', '{}'),
    (1005, 1002, 2, 'classify', '{"labels": ["billing", "bug", "other"]}'),
    (1006, 1002, 3, 'llm', '{}'),
    (1007, 1003, 1, 'llm', '{"debug": true}');

INSERT INTO bots (id, uuid, owner_id, pipeline_id, name, description, adapter, adapter_config, config, enabled, created_at, updated_at) VALUES
    (1001, '0b6f4f0e-7a43-4d0c-8a0e-5f3c2d1b0001', 1001, 1001, 'HelpBot', 'Telegram support bot', 'telegram', '{"token": "123:abc"}', '{"model": "gpt-4o", "temp": 0.7, "max_tokens": 1024, "system_prompt": "You are a helpful assistant."}', TRUE, '2023-01-05 10:10:00', '2023-01-05 10:10:00'),
    (1002, '0b6f4f0e-7a43-4d0c-8a0e-5f3c2d1b0002', 1001, 1002, 'TriageBot', 'Discord triage bot', 'discord', '{"token": "xyz"}', '{"model": "claude-3-haiku-20240307", "temp": 0.2}', TRUE, '2023-01-06 11:05:00', '2023-01-06 11:05:00'),
    (1003, '0b6f4f0e-7a43-4d0c-8a0e-5f3c2d1b0003', 1002, NULL, 'QQ Helper', '', 'qq', '{}', '{"model": "qwen2.5-72b-instruct", "system_prompt": "Answer in Chinese."}', TRUE, '2023-01-08 08:00:00', '2023-01-08 08:00:00'),
    (1004, '0b6f4f0e-7a43-4d0c-8a0e-5f3c2d1b0004', 1003, 1003, 'Sandbox', 'Slack sandbox bot', 'slack', '{}', '{}', FALSE, '2023-03-11 09:40:00', '2023-03-11 09:40:00');

-- more children of pipelines (ON DELETE CASCADE)
INSERT INTO pipeline_runs (id, pipeline_id, bot_id, status, input_tokens, output_tokens, error, started_at, finished_at) VALUES
    (1001, 1001, 1001, 'succeeded', 120, 340, NULL, '2023-02-01 09:00:00', '2023-02-01 09:00:04'),
    (1002, 1001, 1001, 'failed', 80, 0, 'upstream timeout', '2023-02-02 10:00:00', '2023-02-02 10:00:30'),
    (1003, 1002, 1002, 'succeeded', 200, 150, NULL, '2023-02-03 11:00:00', '2023-02-03 11:00:02'),
    (1004, 1002, 1002, 'running', 50, 0, NULL, '2023-02-04 12:00:00', NULL),
    (1005, 1003, 1004, 'pending', 0, 0, NULL, '2023-03-12 08:00:00', NULL),
    (1006, 1003, NULL, 'succeeded', 10, 20, NULL, '2023-03-12 08:05:00', '2023-03-12 08:05:01');
