"""Errors of the store layer."""


class StoreError(Exception):
    """The store cannot be reached or refused a statement; the message says which and why."""


class StoreLocked(StoreError):
    """The embedded store is held by another process, and this process needs it to itself."""


class StoreUnavailable(StoreError):
    """No process that holds the embedded store answers now; writes are worth retrying later."""


class StoreRejected(StoreError):
    """The store refused rows as invalid: writing them again cannot succeed (unlike an outage, which passes)."""
