-- 014: list prices (USD per million tokens) to estimate usage costs.
ALTER TABLE llm_models ADD COLUMN input_price DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE llm_models ADD COLUMN output_price DOUBLE PRECISION NOT NULL DEFAULT 0;

UPDATE llm_models SET input_price = 2.5, output_price = 10 WHERE provider_id = 1 AND name = 'gpt-4o';
UPDATE llm_models SET input_price = 0.15, output_price = 0.6 WHERE provider_id = 1 AND name = 'gpt-4o-mini';
UPDATE llm_models SET input_price = 0.5, output_price = 1.5 WHERE provider_id = 1 AND name = 'gpt-3.5-turbo';
UPDATE llm_models SET input_price = 3, output_price = 15 WHERE provider_id = 2 AND name = 'claude-3-5-sonnet-20240620';
UPDATE llm_models SET input_price = 0.25, output_price = 1.25 WHERE provider_id = 2 AND name = 'claude-3-haiku-20240307';
UPDATE llm_models SET input_price = 0.27, output_price = 1.1 WHERE provider_id = 5 AND name = 'deepseek-chat';
