-- 019: password hashes are argon2 PHC strings since 3.8 and embed their salt.
ALTER TABLE users DROP COLUMN password_salt;
