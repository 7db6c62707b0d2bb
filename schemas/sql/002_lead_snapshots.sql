-- One row per lead and revision; the highest revision is the lead's whole derived lifecycle.
-- Stage entries and transitions live inside the snapshot because a late event may rewrite them:
-- replacing the snapshot replaces them atomically, and a re-delivered event rewrites the same revision.
CREATE TABLE IF NOT EXISTS lead_snapshots
(
    lead_id String,
    revision UInt64,
    created_at DateTime64(3, 'UTC'),
    stage LowCardinality(String),
    episode UInt16,
    episode_open UInt8,
    owner_id String,
    visitor_ids Array(String),
    last_event_at DateTime64(3, 'UTC'),
    entries Array(Tuple(episode UInt16, stage LowCardinality(String), entered_at DateTime64(3, 'UTC'))),
    transitions Array(Tuple(
        at DateTime64(3, 'UTC'),
        event_source String,
        event_id String,
        from_stage LowCardinality(String),
        to_stage LowCardinality(String),
        episode UInt16,
        kind LowCardinality(String))),
    clocks Array(Tuple(
        handoff LowCardinality(String),
        agreement LowCardinality(String),
        episode UInt16,
        started_at DateTime64(3, 'UTC'),
        deadline DateTime64(3, 'UTC'),
        warn_at Nullable(DateTime64(3, 'UTC')),
        stopped_at Nullable(DateTime64(3, 'UTC')),
        business_seconds Nullable(Float64),
        owner_id String)),
    -- each clock's escalation steps, when they fall (whether reached depends on as_of and the clock's stop)
    clock_steps Array(Tuple(
        handoff LowCardinality(String),
        episode UInt16,
        kind LowCardinality(String),
        at DateTime64(3, 'UTC'))),
    -- when each entry's episode entered the next funnel stage, element by element beside `entries` (NULL: not in
    -- this snapshot; an episode enters each stage at most once). ClickHouse computes it once, as the row is written,
    -- so the cohort panel counts the entries that went on by the end of its range without searching the lead's
    -- entries once per entry.
    went_on_at Array(Nullable(DateTime64(3, 'UTC'))) MATERIALIZED
        arrayMap(
            i -> if(i = 0, NULL, entries[i].entered_at),
            arrayMap(
                e -> arrayFirstIndex(
                    x -> x.episode = e.episode AND x.stage = transform(
                        e.stage, ['lead', 'mql', 'sal', 'sql', 'opportunity'], ['mql', 'sal', 'sql', 'opportunity', 'customer'], ''
                    ),
                    entries
                ),
                entries
            )
        )
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY lead_id;

-- A store from before the escalation steps gets their column (the same as above) empty, filled as its leads are
-- judged again.
ALTER TABLE lead_snapshots ADD COLUMN IF NOT EXISTS clock_steps Array(Tuple(
    handoff LowCardinality(String),
    episode UInt16,
    kind LowCardinality(String),
    at DateTime64(3, 'UTC')));

-- A store from before `went_on_at` gets the column (the same as above); its older parts compute it when read.
ALTER TABLE lead_snapshots ADD COLUMN IF NOT EXISTS went_on_at Array(Nullable(DateTime64(3, 'UTC'))) MATERIALIZED
    arrayMap(
        i -> if(i = 0, NULL, entries[i].entered_at),
        arrayMap(
            e -> arrayFirstIndex(
                x -> x.episode = e.episode AND x.stage = transform(
                    e.stage, ['lead', 'mql', 'sal', 'sql', 'opportunity'], ['mql', 'sal', 'sql', 'opportunity', 'customer'], ''
                ),
                entries
            ),
            entries
        )
    );
