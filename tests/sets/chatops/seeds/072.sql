-- Rows of a database at legacy 72 (valid on SQLite and PostgreSQL).
INSERT INTO users (id, name) VALUES (1, 'ada'), (2, 'grace'), (3, 'linus');
INSERT INTO rooms (id, owner_id, name) VALUES (1, 1, 'general'), (2, 2, 'compilers');
INSERT INTO messages (id, room_id, author_id, body) VALUES
    (1, 1, 1, 'hello'), (2, 1, 2, 'hi; how are you?'), (3, 2, 3, 'tabs	and ''quotes''');
INSERT INTO sessions (token, user_id, expired) VALUES
    ('a1', 1, FALSE), ('b2', 2, TRUE), ('c3', 3, TRUE);
INSERT INTO legacy_events (id, payload) VALUES (1, '{"kind": "login"}'), (2, '{"kind": "logout"}');
