-- Seed rows for a database at legacy version >= 24: audit trail.
INSERT INTO audit_logs (id, user_id, action, target_type, target_id, details, ip_address, created_at) VALUES
    (1001, 1001, 'bot.update', 'bot', '1001', '{"fields": ["config"]}', '203.0.113.7', '2024-01-15 09:00:00'),
    (1002, NULL, 'system.upgrade', 'installation', NULL, '{"from": "3.10.0", "to": "3.11.0"}', NULL, '2024-01-16 03:00:00');
