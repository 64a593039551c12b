-- 010: bots are soft-deleted; uuid becomes unique; names are unique per owner among live bots.
ALTER TABLE bots ADD COLUMN deleted_at TIMESTAMP;

CREATE UNIQUE INDEX ux_bots_uuid ON bots (uuid);
CREATE UNIQUE INDEX ux_bots_owner_name_active ON bots (owner_id, name) WHERE deleted_at IS NULL;

-- The bot list is always filtered by owner and enabled flag.
DROP INDEX idx_bots_owner_id;
CREATE INDEX idx_bots_owner_enabled ON bots (owner_id, enabled);
