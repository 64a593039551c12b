DROP INDEX idx_api_keys_last_used_at;
