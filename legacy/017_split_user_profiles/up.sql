-- 017: profile fields move out of users into user_profiles (one row per user).
CREATE TABLE user_profiles (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    avatar_url TEXT,
    bio TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO user_profiles (user_id, avatar_url, bio, timezone, updated_at)
SELECT id, avatar_url, COALESCE(bio, ''), COALESCE(timezone, 'UTC'), updated_at
FROM users;

ALTER TABLE users DROP COLUMN avatar_url;
ALTER TABLE users DROP COLUMN bio;
ALTER TABLE users DROP COLUMN timezone;
