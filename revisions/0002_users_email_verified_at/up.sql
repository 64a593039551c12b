-- Users confirm their e-mail address; NULL until they do.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
