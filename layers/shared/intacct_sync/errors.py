"""Error types shared by every part of the product.

Handlers translate these in one place: a `PermanentError` is parked (DLQ + ledger reason) or
answered 4xx; a `TransientError` is retried with backoff. `fix` tells a user what to change.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error the product raises on purpose.

    `message` says what happened; `fix` (optional) says what to do about it: which setting,
    which Intacct setup step. Neither may contain a secret or personal data.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} Fix: {self.fix}" if self.fix else self.message


class PermanentError(SyncError):
    """Retrying will not help until someone changes data or configuration."""


class TransientError(SyncError):
    """The same call may succeed later (outage, throttling, time-out before sending)."""


class NotFoundError(PermanentError):
    """An outside system says the resource does not exist (an order deleted in the channel)."""


class ConfigurationError(PermanentError):
    """A setting or a secret is missing or wrong; `fix` names the key and how to set it."""
