-- Each visitor's visit times per month (UTC), for the dashboards' distinct visitors of a range. The events of a
-- range hold a row per visit; here a visitor's visits of a month fold into one row, so counting the visitors of a
-- range groups about one row per visitor instead of one per visit, and a range reads only its months. The panel
-- groups by visitor_key itself (rows that parts not merged yet still hold count once), takes the months strictly
-- inside the range whole and tests each time of its first and last month against the range, so the count is exact
-- at any moment; groupUniqArrayArray keeps a re-delivered visit once.
-- visitor_key is events_by_time's (the visitor id hashed to 128 bits, as uniqExact hashes strings anyway).
-- A store created before this file gets it filled from events when the DDL creates it (DERIVED_TABLES).
CREATE TABLE IF NOT EXISTS visitor_months
(
    month Date,
    visitor_key UInt128,
    visits SimpleAggregateFunction(groupUniqArrayArray, Array(DateTime64(3, 'UTC')))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(month)
ORDER BY visitor_key;

CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_months_mv TO visitor_months AS
SELECT
    toStartOfMonth(time) AS month,
    reinterpretAsUInt128(sipHash128(visitor_id)) AS visitor_key,
    groupUniqArray(time) AS visits
FROM events
WHERE type = 'web.visit'
GROUP BY month, visitor_key;
