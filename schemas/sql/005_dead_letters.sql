-- Inputs that could not be processed, once per origin message, with the raw bytes and the reason.
CREATE TABLE IF NOT EXISTS dead_letters
(
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    reason String,
    raw String CODEC(ZSTD(3)),
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset);
