-- Pre-aggregated stage entries per minute for dashboards. Distinct (lead, episode) states make a rewritten
-- snapshot count once; an entry that a late event moves to another minute stays counted in its first
-- minute too (the report and the stage_entries view are exact).
CREATE TABLE IF NOT EXISTS stage_entries_per_minute
(
    minute DateTime('UTC'),
    stage LowCardinality(String),
    leads AggregateFunction(uniqExact, String, UInt16)
)
ENGINE = AggregatingMergeTree
ORDER BY (stage, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS stage_entries_per_minute_mv TO stage_entries_per_minute AS
SELECT
    toStartOfMinute(e.entered_at) AS minute,
    e.stage AS stage,
    uniqExactState(lead_id, e.episode) AS leads
FROM lead_snapshots
ARRAY JOIN entries AS e
GROUP BY minute, stage;
