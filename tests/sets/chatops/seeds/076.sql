-- A database at legacy 76 or later also has newer rows.
INSERT INTO users (id, name, email) VALUES (10, 'barbara', 'barbara@example.org');
INSERT INTO sessions (token, user_id, expired) VALUES ('d4', 10, FALSE);
