-- 024: audit trail of administrative actions, and the bot overview used by the dashboard.
CREATE TABLE audit_logs (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    ip_address TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_audit_logs_user_created ON audit_logs (user_id, created_at);
CREATE INDEX idx_audit_logs_target ON audit_logs (target_type, target_id);

CREATE VIEW bot_overview AS
SELECT b.id, b.uuid, b.name, b.platform, b.enabled, u.username AS owner_username,
       m.name AS model_name, b.last_active_at
FROM bots b
JOIN users u ON u.id = b.owner_id
LEFT JOIN llm_models m ON m.id = b.llm_model_id
WHERE b.deleted_at IS NULL;
