INSERT INTO notes (id, body) VALUES (1, 'written by legacy version 1');
