-- Seed rows for a database at legacy version >= 18: a key restricted to one bot.
INSERT INTO api_keys (id, user_id, name, key_prefix, key_hash, scopes, created_at, bot_id) VALUES
    (1003, 1001, 'HelpBot webhook', 'lb_0b6f', 'sha256:e4d909c290d0fb1ca068ffaddf22cbd0', 'bots:invoke', '2023-09-01 10:00:00', 1001);
