-- 002: track logins (release 3.1.0).
ALTER TABLE users ADD COLUMN last_login_at TIMESTAMP;
ALTER TABLE users ADD COLUMN login_count INTEGER NOT NULL DEFAULT 0;

-- Before this release the only sign of activity was the last profile update.
UPDATE users SET last_login_at = updated_at WHERE last_login_at IS NULL;
