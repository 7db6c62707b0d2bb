-- Stage entries and transitions of every lead's latest snapshot, one row each.
CREATE VIEW IF NOT EXISTS stage_entries AS
SELECT lead_id, e.episode AS episode, e.stage AS stage, e.entered_at AS entered_at, owner_id
FROM lead_snapshots FINAL
ARRAY JOIN entries AS e;

CREATE VIEW IF NOT EXISTS stage_transitions AS
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
