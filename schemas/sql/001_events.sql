-- Every valid input event, once per (source, id): a re-delivered event replaces itself.
CREATE TABLE IF NOT EXISTS events
(
    source String,
    id String,
    type LowCardinality(String),
    time DateTime64(3, 'UTC'),
    subject String,
    lead_id String,
    visitor_id String,
    payload String CODEC(ZSTD(3)),
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (source, id);
