-- Seed rows for a database at legacy version >= 3: a user-defined provider.
INSERT INTO model_providers (id, name, display_name, base_url, requires_api_key, enabled) VALUES
    (1001, 'local_vllm', 'Local vLLM', 'http://10.0.0.5:8000/v1', FALSE, TRUE);
