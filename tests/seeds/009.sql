-- Seed rows for a database at legacy version >= 9: knowledge bases and documents.
-- 1002 is soft-deleted and has the same owner and name as 1001 (allowed by the partial unique index).
INSERT INTO knowledge_bases (id, uuid, owner_id, name, description, embedding_model, top_k, created_at, updated_at, deleted_at) VALUES
    (1001, '9a0e5c1d-2f6b-4e1a-b0c4-7d8e9f000001', 1001, 'Product FAQ', 'Answers for the support bots', 'text-embedding-3-small', 5, '2023-04-01 10:00:00', '2023-04-01 10:00:00', NULL),
    (1002, '9a0e5c1d-2f6b-4e1a-b0c4-7d8e9f000002', 1001, 'Product FAQ', 'first attempt', 'text-embedding-ada-002', 3, '2023-03-20 10:00:00', '2023-03-31 10:00:00', '2023-03-31 10:00:00'),
    (1003, '9a0e5c1d-2f6b-4e1a-b0c4-7d8e9f000003', 1002, 'Internal docs', '', 'bge-m3', 8, '2023-04-02 10:00:00', '2023-04-02 10:00:00', NULL);

INSERT INTO kb_documents (id, knowledge_base_id, filename, mime_type, size_bytes, status, chunk_count, created_at) VALUES
    (1001, 1001, 'faq.md', 'text/markdown', 18234, 'indexed', 42, '2023-04-01 10:05:00'),
    (1002, 1001, 'pricing.pdf', 'application/pdf', 402113, 'indexed', 17, '2023-04-01 10:06:00'),
    (1003, 1002, 'old-faq.txt', 'text/plain', 5120, 'indexed', 9, '2023-03-20 10:05:00'),
    (1004, 1003, 'handbook.docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 99871, 'pending', 0, '2023-04-02 10:05:00');
