-- The stale-key report lists keys not used for 90 days.
CREATE INDEX idx_api_keys_last_used_at ON api_keys (last_used_at);
