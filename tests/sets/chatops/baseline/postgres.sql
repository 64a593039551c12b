-- The complete schema at 0001_baseline (= legacy 79).
CREATE TABLE schema_version (
    lock CHAR(1) NOT NULL DEFAULT 'X' UNIQUE,
    version INTEGER NOT NULL,
    upgraded BOOLEAN NOT NULL,
    CHECK (lock = 'X')
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(255)
);
CREATE TABLE rooms (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL,
    topic VARCHAR(200)
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    author_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    body TEXT NOT NULL,
    sent_at TIMESTAMPTZ
);
CREATE TABLE sessions (
    token VARCHAR(64) PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expired BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX idx_messages_room ON messages (room_id);
CREATE UNIQUE INDEX idx_users_email ON users (email);
