-- The teams of the owners file, as each process that loaded it wrote them at its start (a worker, a replay): one
-- load is every member of every team with the same loaded_at, and a mark row (owner_id '') that says a load
-- happened, teams or none. The SLA board groups clocks by the team their owner is in as of the latest load.
CREATE TABLE IF NOT EXISTS owner_teams
(
    loaded_at DateTime64(3, 'UTC'),
    owner_id String,
    team String,
    manager String
)
ENGINE = MergeTree
ORDER BY (loaded_at, owner_id);
