-- Who filled the store: a replay records the latest event time it saw (the report's default as_of).
CREATE TABLE IF NOT EXISTS store_runs
(
    started_at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    latest_event_at Nullable(DateTime64(3, 'UTC'))
)
ENGINE = MergeTree
ORDER BY started_at;
