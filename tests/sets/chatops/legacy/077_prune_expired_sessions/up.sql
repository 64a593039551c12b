DELETE FROM sessions WHERE expired;
