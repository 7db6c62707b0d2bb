"""Errors of the store layer."""


class StoreError(Exception):
    """The store cannot be reached or refused a statement; the message says which and why."""


class StoreLocked(StoreError):
    """The embedded store is held by another process, and this process needs it to itself."""


class StoreUnavailable(StoreError):
    """No process that holds the embedded store answers now; writes are worth retrying later."""


class StoreRejected(StoreError):
    """The store refused rows as invalid: writing them again cannot succeed (unlike an outage, which passes)."""


class QueryRefused(StoreError):
    """A read that touches more than leadflow's own tables and pure functions; the message names what."""


class OwnerNotTrusted(StoreError):
    """The owner file of an embedded store may have been written by someone else, so its address is not used."""
