-- Run once by the ClickHouse image on an empty data volume; leadflow creates its tables itself at start-up.
CREATE DATABASE IF NOT EXISTS leadflow;
