"""What a channel API call raises. Every message names the channel, the method and the path
template; none carries a token, key, query value or personal data (channel messages are redacted
and truncated before they are quoted).
"""

from __future__ import annotations

from intacct_sync.errors import ConfigurationError, NotFoundError, PermanentError, TransientError


class ChannelTransientError(TransientError):
    """The channel could not answer now (connect failure, time-out, 5xx, throttling).

    `retryable` is False when the request may have been carried out (a non-idempotent request
    whose answer was lost): the caller must look before re-sending (ensure_webhooks lists first).
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        status: int | None = None,
        retryable: bool = True,
        retry_after_s: float | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, fix=fix)
        self.channel = channel
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class ChannelRateLimited(ChannelTransientError):
    """429, a Shopify THROTTLED GraphQL answer, or a quota pause longer than the time left.
    `retry_after_s` says when the channel expects the next request (None = unknown)."""


class ChannelAuthError(ConfigurationError):
    """401/403: the credentials are wrong or lack a permission. `fix` names the connection
    secret key(s) to check and the channel-side setup (app scopes, key permissions)."""

    def __init__(self, message: str, *, channel: str, status: int, fix: str) -> None:
        super().__init__(message, fix=fix)
        self.channel = channel
        self.status = status


class ChannelRequestError(PermanentError):
    """The channel rejected the request (4xx other than 401/403/429), or answered something
    that is not its API (a redirect, HTML): retrying the same request will not help."""

    def __init__(self, message: str, *, channel: str, status: int | None = None, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.channel = channel
        self.status = status


class ChannelNotFound(ChannelRequestError, NotFoundError):
    """404: the resource (an order, a webhook) does not exist, or the store address is wrong."""
