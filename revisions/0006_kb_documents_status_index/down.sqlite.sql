DROP INDEX IF EXISTS idx_kb_documents_kb_status;
