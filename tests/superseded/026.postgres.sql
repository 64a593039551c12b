-- What pre-release builds ran as legacy step 26; revision 0005_llm_context_length now carries it.
ALTER TABLE llm_models ADD COLUMN context_length INTEGER;
