ALTER TABLE llm_models DROP COLUMN context_length;
