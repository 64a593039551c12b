CREATE INDEX IF NOT EXISTS idx_kb_documents_kb_status ON kb_documents (knowledge_base_id, status);
