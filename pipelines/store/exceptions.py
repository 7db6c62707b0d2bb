"""Errors of the store layer."""


class StoreError(Exception):
    """The store cannot be reached or refused a statement; the message says which and why."""


class StoreLocked(StoreError):
    """The embedded store is held by another process that does not answer queries."""
