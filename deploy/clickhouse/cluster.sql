-- leadflow's store on a ClickHouse cluster, written by `leadflow schemas cluster-ddl` from schemas/sql/*.sql.
-- Edit those files and run the command again; a test fails while this file differs from its output.
--
-- Each server needs the macros {cluster}, {shard} and {replica}, and ClickHouse Keeper (or ZooKeeper).
-- Apply once, before the first worker starts, with the leadflow database selected:
--     clickhouse-client --database leadflow --multiquery < deploy/clickhouse/cluster.sql
-- The workers' own start-up DDL (CREATE ... IF NOT EXISTS) then finds every name taken and changes nothing.
-- Give the leadflow user distributed_product_mode = 'global': a report's IN and JOIN subqueries over
-- Distributed tables are then computed once and sent to every shard (README, Scaling out).

-- events_local: this shard's rows of events
CREATE TABLE IF NOT EXISTS events_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(time)
ORDER BY (source, id);

-- events: every shard's rows, sharded by cityHash64(subject) (one subject's rows on one shard)
CREATE TABLE IF NOT EXISTS events ON CLUSTER '{cluster}' AS events_local
ENGINE = Distributed('{cluster}', currentDatabase(), events_local, cityHash64(subject));

-- lead_snapshots_local: this shard's rows of lead_snapshots
CREATE TABLE IF NOT EXISTS lead_snapshots_local ON CLUSTER '{cluster}'
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
    clock_steps Array(Tuple(
        handoff LowCardinality(String),
        episode UInt16,
        kind LowCardinality(String),
        at DateTime64(3, 'UTC'))),
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', revision)
ORDER BY lead_id;

-- lead_snapshots: every shard's rows, sharded by cityHash64(lead_id) (one lead_id's rows on one shard)
CREATE TABLE IF NOT EXISTS lead_snapshots ON CLUSTER '{cluster}' AS lead_snapshots_local
ENGINE = Distributed('{cluster}', currentDatabase(), lead_snapshots_local, cityHash64(lead_id));

ALTER TABLE lead_snapshots_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS clock_steps Array(Tuple(
    handoff LowCardinality(String),
    episode UInt16,
    kind LowCardinality(String),
    at DateTime64(3, 'UTC')));

ALTER TABLE lead_snapshots ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS clock_steps Array(Tuple(
    handoff LowCardinality(String),
    episode UInt16,
    kind LowCardinality(String),
    at DateTime64(3, 'UTC')));

ALTER TABLE lead_snapshots_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS went_on_at Array(Nullable(DateTime64(3, 'UTC'))) MATERIALIZED
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

ALTER TABLE lead_snapshots ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS went_on_at Array(Nullable(DateTime64(3, 'UTC'))) MATERIALIZED
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

CREATE VIEW IF NOT EXISTS stage_entries ON CLUSTER '{cluster}' AS
SELECT lead_id, e.episode AS episode, e.stage AS stage, e.entered_at AS entered_at, owner_id
FROM lead_snapshots FINAL
ARRAY JOIN entries AS e;

CREATE VIEW IF NOT EXISTS stage_transitions ON CLUSTER '{cluster}' AS
SELECT
    lead_id,
    t.at AS at,
    t.event_source AS event_source,
    t.event_id AS event_id,
    t.from_stage AS from_stage,
    t.to_stage AS to_stage,
    t.episode AS episode,
    t.kind AS kind
FROM lead_snapshots FINAL
ARRAY JOIN transitions AS t;

-- first_touch_candidates_local: this shard's rows of first_touch_candidates
CREATE TABLE IF NOT EXISTS first_touch_candidates_local ON CLUSTER '{cluster}'
(
    lead_id String,
    visitor_id String,
    visit_source String,
    visit_id String,
    visit_time DateTime64(3, 'UTC'),
    url String,
    referrer String,
    utm_source LowCardinality(String),
    utm_medium LowCardinality(String),
    utm_campaign LowCardinality(String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (lead_id, visitor_id, visit_time, visit_source, visit_id);

-- first_touch_candidates: every shard's rows, sharded by cityHash64(lead_id) (one lead_id's rows on one shard)
CREATE TABLE IF NOT EXISTS first_touch_candidates ON CLUSTER '{cluster}' AS first_touch_candidates_local
ENGINE = Distributed('{cluster}', currentDatabase(), first_touch_candidates_local, cityHash64(lead_id));

-- lead_first_touches_local: this shard's rows of lead_first_touches
CREATE TABLE IF NOT EXISTS lead_first_touches_local ON CLUSTER '{cluster}'
(
    lead_id String,
    touch SimpleAggregateFunction(min, Tuple(
        visit_time DateTime64(3, 'UTC'),
        visit_source String,
        visit_id String,
        visitor_id String,
        url String,
        referrer String,
        utm_source String,
        utm_medium String,
        utm_campaign String))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY lead_id;

-- lead_first_touches: every shard's rows, sharded by cityHash64(lead_id) (one lead_id's rows on one shard)
CREATE TABLE IF NOT EXISTS lead_first_touches ON CLUSTER '{cluster}' AS lead_first_touches_local
ENGINE = Distributed('{cluster}', currentDatabase(), lead_first_touches_local, cityHash64(lead_id));

-- lead_first_touches_mv: fires on each shard's inserts into its local table
CREATE MATERIALIZED VIEW IF NOT EXISTS lead_first_touches_mv ON CLUSTER '{cluster}' TO lead_first_touches_local AS
SELECT lead_id, (visit_time, visit_source, visit_id, visitor_id, url, referrer, utm_source, utm_medium, utm_campaign) AS touch
FROM first_touch_candidates_local;

CREATE OR REPLACE VIEW lead_first_touch ON CLUSTER '{cluster}' AS
SELECT
    lead_id,
    tupleElement(touch, 'visitor_id') AS visitor_id,
    tupleElement(touch, 'visit_time') AS first_visit_at,
    tupleElement(touch, 'url') AS landing_url,
    tupleElement(touch, 'referrer') AS referrer,
    toLowCardinality(tupleElement(touch, 'utm_source')) AS utm_source,
    toLowCardinality(tupleElement(touch, 'utm_medium')) AS utm_medium,
    toLowCardinality(tupleElement(touch, 'utm_campaign')) AS utm_campaign
FROM lead_first_touches FINAL;

CREATE VIEW IF NOT EXISTS leads ON CLUSTER '{cluster}' AS
SELECT s.*, f.visitor_id AS first_visitor_id, f.first_visit_at, f.landing_url, f.referrer,
       f.utm_source, f.utm_medium, f.utm_campaign
FROM lead_snapshots AS s FINAL
LEFT JOIN lead_first_touch AS f ON f.lead_id = s.lead_id;

-- dead_letters_local: this shard's rows of dead_letters
CREATE TABLE IF NOT EXISTS dead_letters_local ON CLUSTER '{cluster}'
(
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    reason String,
    raw String CODEC(ZSTD(3)),
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (topic, partition, offset);

-- dead_letters: every shard's rows, sharded by cityHash64(topic, partition, offset) (one sorting key's rows on one shard)
CREATE TABLE IF NOT EXISTS dead_letters ON CLUSTER '{cluster}' AS dead_letters_local
ENGINE = Distributed('{cluster}', currentDatabase(), dead_letters_local, cityHash64(topic, partition, offset));

-- stage_entries_per_minute_local: this shard's rows of stage_entries_per_minute
CREATE TABLE IF NOT EXISTS stage_entries_per_minute_local ON CLUSTER '{cluster}'
(
    minute DateTime('UTC'),
    stage LowCardinality(String),
    leads AggregateFunction(uniqExact, String, UInt16)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (stage, minute);

-- stage_entries_per_minute: every shard's rows, sharded by cityHash64(stage, minute) (one sorting key's rows on one shard)
CREATE TABLE IF NOT EXISTS stage_entries_per_minute ON CLUSTER '{cluster}' AS stage_entries_per_minute_local
ENGINE = Distributed('{cluster}', currentDatabase(), stage_entries_per_minute_local, cityHash64(stage, minute));

-- stage_entries_per_minute_mv: fires on each shard's inserts into its local table
CREATE MATERIALIZED VIEW IF NOT EXISTS stage_entries_per_minute_mv ON CLUSTER '{cluster}' TO stage_entries_per_minute_local AS
SELECT
    toStartOfMinute(e.entered_at) AS minute,
    e.stage AS stage,
    uniqExactState(lead_id, e.episode) AS leads
FROM lead_snapshots_local
ARRAY JOIN entries AS e
GROUP BY minute, stage;

-- store_runs_local: this shard's rows of store_runs
CREATE TABLE IF NOT EXISTS store_runs_local ON CLUSTER '{cluster}'
(
    started_at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    latest_event_at Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY started_at;

-- store_runs: every shard's rows, sharded by cityHash64(started_at) (one sorting key's rows on one shard)
CREATE TABLE IF NOT EXISTS store_runs ON CLUSTER '{cluster}' AS store_runs_local
ENGINE = Distributed('{cluster}', currentDatabase(), store_runs_local, cityHash64(started_at));

CREATE OR REPLACE VIEW sla_clocks ON CLUSTER '{cluster}' AS
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

-- sla_events_local: this shard's rows of sla_events
CREATE TABLE IF NOT EXISTS sla_events_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (lead_id, handoff, episode, kind);

-- sla_events: every shard's rows, sharded by cityHash64(lead_id) (one lead_id's rows on one shard)
CREATE TABLE IF NOT EXISTS sla_events ON CLUSTER '{cluster}' AS sla_events_local
ENGINE = Distributed('{cluster}', currentDatabase(), sla_events_local, cityHash64(lead_id));

-- events_by_time_local: this shard's rows of events_by_time
CREATE TABLE IF NOT EXISTS events_by_time_local ON CLUSTER '{cluster}'
(
    type LowCardinality(String),
    time DateTime64(3, 'UTC'),
    source LowCardinality(String),
    id String,
    subject String,
    visitor_id String,
    visitor_key UInt128 MATERIALIZED reinterpretAsUInt128(sipHash128(visitor_id)),
    lead_id String,
    deal_id String,
    deal_stage LowCardinality(String),
    amount Decimal128(6),
    currency LowCardinality(String)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY (toYYYYMM(time), type)
ORDER BY (type, time, source, id);

-- events_by_time: every shard's rows, sharded by cityHash64(subject) (one subject's rows on one shard)
CREATE TABLE IF NOT EXISTS events_by_time ON CLUSTER '{cluster}' AS events_by_time_local
ENGINE = Distributed('{cluster}', currentDatabase(), events_by_time_local, cityHash64(subject));

-- events_by_time_mv: fires on each shard's inserts into its local table
CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_time_mv ON CLUSTER '{cluster}' TO events_by_time_local AS
SELECT
    type,
    time,
    source,
    id,
    subject,
    visitor_id,
    lead_id,
    if(type = 'crm.deal_changed', JSONExtractString(payload, 'data', 'deal_id'), '') AS deal_id,
    if(type = 'crm.deal_changed', JSONExtractString(payload, 'data', 'stage'), '') AS deal_stage,
    if(type = 'crm.deal_changed', toDecimal128OrZero(trimBoth(JSONExtractRaw(payload, 'data', 'amount'), '"'), 6),
       toDecimal128(0, 6)) AS amount,
    if(type = 'crm.deal_changed', JSONExtractString(payload, 'data', 'currency'), '') AS currency
FROM events_local;

-- owner_teams_local: this shard's rows of owner_teams
CREATE TABLE IF NOT EXISTS owner_teams_local ON CLUSTER '{cluster}'
(
    loaded_at DateTime64(3, 'UTC'),
    owner_id String,
    team String,
    manager String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (loaded_at, owner_id);

-- owner_teams: every shard's rows, sharded by cityHash64(loaded_at, owner_id) (one sorting key's rows on one shard)
CREATE TABLE IF NOT EXISTS owner_teams ON CLUSTER '{cluster}' AS owner_teams_local
ENGINE = Distributed('{cluster}', currentDatabase(), owner_teams_local, cityHash64(loaded_at, owner_id));

-- visitor_months_local: this shard's rows of visitor_months
CREATE TABLE IF NOT EXISTS visitor_months_local ON CLUSTER '{cluster}'
(
    month Date,
    visitor_key UInt128,
    visits SimpleAggregateFunction(groupUniqArrayArray, Array(DateTime64(3, 'UTC')))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(month)
ORDER BY visitor_key;

-- visitor_months: every shard's rows, sharded by cityHash64(visitor_key) (one sorting key's rows on one shard)
CREATE TABLE IF NOT EXISTS visitor_months ON CLUSTER '{cluster}' AS visitor_months_local
ENGINE = Distributed('{cluster}', currentDatabase(), visitor_months_local, cityHash64(visitor_key));

-- visitor_months_mv: fires on each shard's inserts into its local table
CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_months_mv ON CLUSTER '{cluster}' TO visitor_months_local AS
SELECT
    toStartOfMonth(time) AS month,
    reinterpretAsUInt128(sipHash128(visitor_id)) AS visitor_key,
    groupUniqArray(time) AS visits
FROM events_local
WHERE type = 'web.visit'
GROUP BY month, visitor_key;
