-- The events moved to an external log years ago; the table is obsolete.
DROP TABLE legacy_events;
