"""Grafana dashboards as code: four boards built with grafana-foundation-sdk, and the JSON they generate."""
