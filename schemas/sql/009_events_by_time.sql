-- Every event again, ordered by type and time, for the dashboards. `events` is sorted by (source, id), so a
-- time range there reads whole months and FINAL merges every row of them; here a range reads only its own
-- rows, and since rows arrive roughly in time order each part holds its own stretch of time, so FINAL merges
-- only where parts overlap. Partitions by month and type keep each type's parts apart. Deal fields are read
-- from the payload once, on insert. visitor_key is the visitor id hashed to 128 bits, as uniqExact hashes
-- strings anyway: distinct visitors are counted on integers. A re-delivered event replaces itself here too.
-- A store created before this file starts with this table empty: fill it once with the view's own query,
-- `INSERT INTO events_by_time SELECT ...` (the SELECT of events_by_time_mv below); repeated rows are replaced.
CREATE TABLE IF NOT EXISTS events_by_time
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
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMM(time), type)
ORDER BY (type, time, source, id);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_by_time_mv TO events_by_time AS
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
FROM events;
