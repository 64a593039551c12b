DROP INDEX CONCURRENTLY IF EXISTS idx_kb_documents_kb_status;
