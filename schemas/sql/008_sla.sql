-- Every handoff clock of every lead's latest snapshot, with its escalation steps: judged against any as_of by the
-- report (replaced at start, so a store from before the steps gets them too).
CREATE OR REPLACE VIEW sla_clocks AS
SELECT
    lead_id,
    c.handoff AS handoff,
    c.agreement AS agreement,
    c.episode AS episode,
    c.started_at AS started_at,
    c.deadline AS deadline,
    c.warn_at AS warn_at,
    c.stopped_at AS stopped_at,
    c.business_seconds AS business_seconds,
    if(c.owner_id = '', owner_id, c.owner_id) AS owner_id,
    arrayMap(s -> (s.kind, s.at), arrayFilter(s -> s.handoff = c.handoff AND s.episode = c.episode, clock_steps))
        AS steps
FROM lead_snapshots FINAL
ARRAY JOIN clocks AS c;

-- SLA events as published to leadflow.sla, once per (lead, handoff, episode, kind).
CREATE TABLE IF NOT EXISTS sla_events
(
    lead_id String,
    handoff LowCardinality(String),
    episode UInt16,
    kind LowCardinality(String),
    event_id String,
    agreement LowCardinality(String),
    owner_id String,
    started_at DateTime64(3, 'UTC'),
    deadline DateTime64(3, 'UTC'),
    stopped_at Nullable(DateTime64(3, 'UTC')),
    business_seconds Nullable(Float64),
    due_at DateTime64(3, 'UTC'),
    published_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (lead_id, handoff, episode, kind);
