-- Candidate first touches: the first visit of each visitor tied to a lead. A lead's first touch is the
-- earliest candidate (argMin at query time), so the order in which visits and forms arrive does not matter.
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

CREATE VIEW IF NOT EXISTS lead_first_touch AS
SELECT
    lead_id,
    argMin(visitor_id, (visit_time, visit_source, visit_id)) AS visitor_id,
    min(visit_time) AS first_visit_at,
    argMin(url, (visit_time, visit_source, visit_id)) AS landing_url,
    argMin(referrer, (visit_time, visit_source, visit_id)) AS referrer,
    argMin(utm_source, (visit_time, visit_source, visit_id)) AS utm_source,
    argMin(utm_medium, (visit_time, visit_source, visit_id)) AS utm_medium,
    argMin(utm_campaign, (visit_time, visit_source, visit_id)) AS utm_campaign
FROM first_touch_candidates
GROUP BY lead_id;

CREATE VIEW IF NOT EXISTS leads AS
SELECT s.*, f.visitor_id AS first_visitor_id, f.first_visit_at, f.landing_url, f.referrer,
       f.utm_source, f.utm_medium, f.utm_campaign
FROM lead_snapshots AS s FINAL
LEFT JOIN lead_first_touch AS f ON f.lead_id = s.lead_id;
