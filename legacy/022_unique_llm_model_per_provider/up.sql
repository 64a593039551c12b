-- 022: a model name is unique per provider; the new index also serves provider lookups.
CREATE UNIQUE INDEX ux_llm_models_provider_name ON llm_models (provider_id, name);
DROP INDEX idx_llm_models_provider_id;
