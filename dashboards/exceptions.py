"""Errors of the boards' commands that end them with one clear line."""

from __future__ import annotations


class GrafanaError(Exception):
    """Grafana cannot be reached, is not Grafana, refused the token, or lacks what the boards need."""
