"""One JSON log stream per function: the handler's Powertools logger carries every module's lines.

Domain modules log through `logging.getLogger(__name__)` (they do not know Lambda). Under Lambda's
Python runtime the root logger is at WARNING and writes text, so those lines would be lost at INFO
and unreadable by the metric filters. `function_logger()` makes the package logger
(`intacct_sync`) write through the Powertools handler: same JSON formatter (service, level,
location, timestamp, the Lambda context keys `inject_lambda_context` adds), same level
(`POWERTOOLS_LOG_LEVEL`, INFO by default, or Lambda's own log level control). The runtime's root
handler drops the package's records (no duplicate text line), as Powertools does for its own
logger; records still propagate, so pytest's capture sees them.

`context(connection_id=..., order_id=...)` adds keys to every line logged inside it, from any
module, so a line deep in the Intacct client still names the connection and order it worked for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from aws_lambda_powertools import Logger

PACKAGE = "intacct_sync"
SERVICE = "intacct-sync"

_context: ContextVar[dict[str, str]] = ContextVar("intacct_sync_log_context", default={})  # noqa: B039 - never mutated


class _ContextKeys(logging.Filter):
    """Adds the keys of the innermost `context()` to each record that does not set them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


class _NotOurs(logging.Filter):
    """On the runtime's root handler: the package's lines are already written as JSON."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name in (PACKAGE, SERVICE) or record.name.startswith(PACKAGE + "."))


_FILTER = _ContextKeys()
_SUPPRESS = _NotOurs()


@contextmanager
def context(**keys: str | None) -> Iterator[None]:
    """Keys (connection_id, order_id, order_number, ...) on every line logged in the block."""
    merged = {**_context.get(), **{k: v for k, v in keys.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def function_logger() -> Logger:
    """The handler's Powertools logger, with every `intacct_sync` module logging through it.

    Idempotent: handlers call it at import, and the shared consumer handler once per kind.
    """
    logger = Logger(service=SERVICE)
    package = logging.getLogger(PACKAGE)
    package.handlers = list(logger.handlers)
    package.setLevel(logger.log_level)
    for handler in package.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    for handler in logging.root.handlers:
        if type(handler).__module__ != "_pytest.logging" and _SUPPRESS not in handler.filters:
            handler.addFilter(_SUPPRESS)
    return logger


def order_keys(subject: object) -> dict[str, str]:
    """connection_id, order_id and (when known) order_number of a ledger entry, an event or a payload."""
    keys = {
        "connection_id": str(getattr(subject, "connection_id", "")),
        "order_id": str(getattr(subject, "order_id", "")),
    }
    number = getattr(subject, "order_number", None) or getattr(getattr(subject, "payload", None), "order_number", None)
    if number:
        keys["order_number"] = str(number)
    return keys
