-- Messages a stage could not process, kept for operators (`cassa dlq list|show|replay`) beside
-- the dead-letter topic. The id is derived from where the message was read (topic, partition,
-- offset), so a batch read again does not record its dead letters twice. Times are milliseconds
-- since the epoch.
CREATE TABLE dead_letters (
    id               TEXT PRIMARY KEY,
    topic            TEXT NOT NULL,
    source_partition BIGINT NOT NULL,
    source_offset    BIGINT NOT NULL,
    msg_key          TEXT NOT NULL,
    payload          TEXT NOT NULL,
    reason           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    -- The last replay, and how many there were.
    replayed_at      BIGINT,
    replays          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX dead_letters_by_time ON dead_letters (created_at);
