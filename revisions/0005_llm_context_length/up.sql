-- Context window of the model, in tokens (NULL: unknown).
-- Pre-release builds ran this change as legacy step 26: skip it where the column exists.
-- ferry:if-missing column llm_models.context_length
ALTER TABLE llm_models ADD COLUMN context_length INTEGER;
-- ferry:end
