ALTER TABLE rooms DROP COLUMN archived;
