-- Seed rows for a database at legacy version >= 11: API keys (one revoked).
INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, scopes, last_used_at, expires_at, revoked_at, created_at) VALUES
    (1001, 1001, 'CI deploy', 'lb_4f2a', 'sha256:5d41402abc4b2a76b9719d911017c592', 'bots:write', '2023-05-01 07:00:00', NULL, NULL, '2023-04-10 10:00:00'),
    (1002, 1002, 'old laptop', 'lb_91c0', 'sha256:7d793037a0760186574b0282f2f435e7', '*', NULL, '2024-01-01 00:00:00', '2023-06-01 00:00:00', '2023-04-11 10:00:00');
