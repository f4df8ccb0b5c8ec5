"""Where connections (one store on one channel) come from: one Secrets Manager secret each.

The secret is named `<prefix><connection_id>` and holds the `Connection` keys as JSON
(README 'Channel setup'). Lookups are cached per warm container for a few minutes, so the webhook
path costs no Secrets Manager call in steady state. The caches are bounded: the connection id is
part of a public URL, so anyone can make the webhook look up as many unknown ids as they like.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from intacct_sync.errors import ConfigurationError, TransientError
from intacct_sync.models.connection import (
    MIN_WEBHOOK_SECRET_CHARS,
    Connection,
    api_credential_problems,
    signing_secret_problems,
)

MAX_CACHED_CONNECTIONS = 1000
"""Per cache (known and unknown ids apart): far more stores than one stack serves, and a few
hundred KB of unknown ids at most."""


class ConnectionStoreUnavailable(TransientError):
    """The secret store could not be read now; the caller answers 503 so the channel retries."""


class ConnectionStore(Protocol):
    def get(self, connection_id: str) -> Connection | None:
        """The connection, or None when there is no such connection. Raises ConfigurationError
        for a secret that is not a valid connection, ConnectionStoreUnavailable when unreadable."""
        ...

    def list_ids(self) -> list[str]: ...


def parse_connection(connection_id: str, raw: str | Mapping[str, Any], *, source: str) -> Connection:
    """Validate a connection secret; errors name the key, never echo a value."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except json.JSONDecodeError:
        raise ConfigurationError(f"{source} is not valid JSON.", fix="Store the connection as a JSON object.") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{source} must be a JSON object.", fix="See README 'Channel setup'.")
    if data.setdefault("id", connection_id) != connection_id:
        raise ConfigurationError(
            f"{source} says its id is not '{connection_id}'.",
            fix="Make the secret's 'id' equal the last part of its name (or remove 'id').",
        )
    try:
        connection = Connection.model_validate(data)
    except ValidationError as exc:
        keys = ", ".join(
            f"'{'.'.join(str(p) for p in e['loc']) or '(root)'}': {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise ConfigurationError(
            f"{source} is not a valid connection: {keys}.",
            fix="Edit the secret (README 'Channel setup' lists every key).",
        ) from None
    problems = signing_secret_problems(connection)
    if problems:
        # A blank or short key would be used as the HMAC key as it is: refuse the connection
        # (the webhook answers 503, so the channel retries once the secret is fixed).
        raise ConfigurationError(
            f"{source} has an unusable webhook signing secret: {'; '.join(problems)}.",
            fix="Paste the channel's signing secret exactly as the channel shows it, with nothing around it "
            "(Shopify app client secret, WooCommerce webhook secret, BigCommerce app client secret); real "
            f"ones are at least {MIN_WEBHOOK_SECRET_CHARS} characters long. Remove 'previous_webhook_secret' "
            "when no rotation is going on.",
        )
    credential_problems = api_credential_problems(connection)
    if credential_problems:
        # Refused as a whole, like a bad signing secret: half a key pair or two ways at once is a
        # paste gone wrong, and guessing which one was meant could call the store as another app.
        raise ConfigurationError(
            f"{source} has unusable Shopify API credentials: {'; '.join(p.problem for p in credential_problems)}.",
            fix=" ".join(dict.fromkeys(p.fix for p in credential_problems)) + " (README 'Channel setup').",
        )
    return connection


def secret_string(
    response: Mapping[str, Any], name: str, *, what: str = "connection", readme: str = "Channel setup"
) -> str:
    """The SecretString of a GetSecretValue answer; a secret stored as binary is refused clearly."""
    raw = response.get("SecretString")
    if isinstance(raw, str):
        return raw
    stored = "as SecretBinary" if "SecretBinary" in response else "without a SecretString"
    raise ConfigurationError(
        f"Secret '{name}' is stored {stored}; a {what} is read from SecretString only.",
        fix=f"Store the {what} JSON as SecretString: aws secretsmanager put-secret-value --secret-id "
        f"'{name}' --secret-string file://{what.replace(' ', '-')}.json (README '{readme}').",
    )


class _TtlLru:
    """A small LRU of (expiry, value): at most `max_entries`, the least recently used dropped first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, Connection | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str, now: float) -> tuple[bool, Connection | None]:
        hit = self._items.get(key)
        if hit is None:
            return False, None
        if hit[0] <= now:
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, hit[1]

    def put(self, key: str, expires: float, value: Connection | None) -> None:
        self._items[key] = (expires, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def pop(self, key: str) -> None:
        self._items.pop(key, None)


class SecretsManagerConnections:
    """Connections from Secrets Manager, cached `ttl_s` seconds (unknown ids for `miss_ttl_s`).

    Known and unknown ids are cached apart, each up to `max_entries`: a flood of made-up ids in
    webhook URLs evicts only other made-up ids, never a real connection."""

    def __init__(
        self,
        prefix: str,
        *,
        client: Any = None,
        ttl_s: float = 300,
        miss_ttl_s: float = 30,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_CACHED_CONNECTIONS,
    ) -> None:
        self.prefix = prefix
        self._client = client
        self.ttl_s, self.miss_ttl_s = ttl_s, miss_ttl_s
        self._clock = clock
        self._known = _TtlLru(max_entries)
        self._unknown = _TtlLru(max_entries)
        self._lock = threading.Lock()

    def cached_ids(self) -> tuple[int, int]:
        """How many known and unknown ids are cached now (for tests and diagnostics)."""
        with self._lock:
            return len(self._known), len(self._unknown)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - deferred: boto3 costs ~100 ms of cold import

            self._client = boto3.client("secretsmanager")
        return self._client

    def get(self, connection_id: str) -> Connection | None:
        now = self._clock()
        with self._lock:
            found, cached = self._known.get(connection_id, now)
            if not found:
                found, cached = self._unknown.get(connection_id, now)
        if found:
            return cached
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        name = self.prefix + connection_id
        try:
            raw = secret_string(self.client.get_secret_value(SecretId=name), name)
            conn: Connection | None = parse_connection(connection_id, raw, source=f"Secret '{name}'")
            expires = now + self.ttl_s
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise ConnectionStoreUnavailable(
                    f"Secrets Manager refused to read '{name}' ({exc.response.get('Error', {}).get('Code')})",
                    fix="Check the function's IAM policy allows secretsmanager:GetSecretValue on the prefix.",
                ) from None
            conn, expires = None, now + self.miss_ttl_s
        except BotoCoreError as exc:
            raise ConnectionStoreUnavailable(f"Secrets Manager unreachable ({type(exc).__name__})") from None
        with self._lock:
            # An id is in one cache at most: a connection created or deleted since moves across.
            (self._known if conn is not None else self._unknown).put(connection_id, expires, conn)
            (self._unknown if conn is not None else self._known).pop(connection_id)
        return conn

    def list_ids(self) -> list[str]:
        ids: list[str] = []
        paginator = self.client.get_paginator("list_secrets")
        for page in paginator.paginate(Filters=[{"Key": "name", "Values": [self.prefix]}]):
            for s in page.get("SecretList", []):
                name = s["Name"]
                if name.startswith(self.prefix) and "/" not in name[len(self.prefix) :]:
                    ids.append(name[len(self.prefix) :])
        return sorted(ids)


class InMemoryConnections:
    """A fixed set of connections (unit tests, local tools)."""

    def __init__(self, connections: list[Connection]) -> None:
        self._by_id = {c.id: c for c in connections}

    def get(self, connection_id: str) -> Connection | None:
        return self._by_id.get(connection_id)

    def list_ids(self) -> list[str]:
        return sorted(self._by_id)
