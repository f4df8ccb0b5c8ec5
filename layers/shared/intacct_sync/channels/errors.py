"""What a channel adapter raises: the handler maps InvalidSignature to 401, InvalidPayload to 400.

Messages name the problem (header, field path, expected type) and never carry a header value,
a secret or personal data from the body.
"""

from __future__ import annotations

from intacct_sync.errors import ConfigurationError, PermanentError


class InvalidSignature(PermanentError):
    """The delivery is not proven to come from the channel: answer 401, enqueue nothing."""


class WebhookSecretMissing(InvalidSignature, ConfigurationError):
    """The connection has no usable webhook secret: fail closed (401) and tell the operator."""


class InvalidPayload(PermanentError):
    """The body (or a required header) is not what the channel documents: answer 400.

    `path` names the offending field, e.g. `order.line_items[2].price`.
    """

    def __init__(self, message: str, *, path: str | None = None, fix: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message, fix=fix)
        self.path = path
