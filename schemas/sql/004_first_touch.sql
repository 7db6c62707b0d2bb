-- Candidate first touches: the first visit of each visitor tied to a lead. A lead's first touch is the
-- earliest candidate (lead_first_touches below), so the order in which visits and forms arrive does not matter.
CREATE TABLE IF NOT EXISTS first_touch_candidates
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
ENGINE = ReplacingMergeTree
ORDER BY (lead_id, visitor_id, visit_time, visit_source, visit_id);

-- A lead's first touch, kept as it arrives: the least candidate as a tuple ordered by (visit_time, visit_source,
-- visit_id, ...), which is the argMin over (visit_time, visit_source, visit_id) of every field. min is
-- order-independent and repeats change nothing, so late or re-delivered candidates keep it exact; FINAL folds the
-- rows of one lead that parts not merged yet still hold. Read as one row per lead, the first touch joins stage
-- entries without grouping every candidate at query time. A store created before this table gets it filled from
-- first_touch_candidates when the DDL creates it (pipelines/store/client.py, DERIVED_TABLES).
CREATE TABLE IF NOT EXISTS lead_first_touches
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
ENGINE = AggregatingMergeTree
ORDER BY lead_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS lead_first_touches_mv TO lead_first_touches AS
SELECT lead_id, (visit_time, visit_source, visit_id, visitor_id, url, referrer, utm_source, utm_medium, utm_campaign) AS touch
FROM first_touch_candidates;

-- OR REPLACE: a store created before lead_first_touches grouped the candidates here at query time. tupleElement
-- reads the whole tuple, which FINAL folds with min; a subcolumn (touch.utm_source) is read and folded on its own,
-- without the min over the whole tuple, and gives another candidate's field (ClickHouse issue #61161).
CREATE OR REPLACE VIEW lead_first_touch AS
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

CREATE VIEW IF NOT EXISTS leads AS
SELECT s.*, f.visitor_id AS first_visitor_id, f.first_visit_at, f.landing_url, f.referrer,
       f.utm_source, f.utm_medium, f.utm_campaign
FROM lead_snapshots AS s FINAL
LEFT JOIN lead_first_touch AS f ON f.lead_id = s.lead_id;
