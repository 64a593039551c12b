-- Seed rows for a database at legacy version >= 6: plugin settings.
INSERT INTO plugin_settings (id, plugin_author, plugin_name, enabled, priority, config, created_at, updated_at) VALUES
    (1001, 'RockChinQ', 'WebSearch', TRUE, 0, '{"engine": "bing", "max_results": 5}', '2023-02-10 10:00:00', '2023-02-10 10:00:00'),
    (1002, 'langbot-team', 'ImageGen', FALSE, 10, '{}', '2023-02-11 10:00:00', '2023-02-15 10:00:00');
