"""Where connections (one store on one channel) come from: one Secrets Manager secret each.

The secret is named `<prefix><connection_id>` and holds the `Connection` keys as JSON
(README 'Channel setup'). Lookups are cached per warm container for a few minutes, so the webhook
path costs no Secrets Manager call in steady state.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from intacct_sync.errors import ConfigurationError, TransientError
from intacct_sync.models.connection import Connection


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
        return Connection.model_validate(data)
    except ValidationError as exc:
        keys = ", ".join(
            f"'{'.'.join(str(p) for p in e['loc']) or '(root)'}': {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise ConfigurationError(
            f"{source} is not a valid connection: {keys}.",
            fix="Edit the secret (README 'Channel setup' lists every key).",
        ) from None


class SecretsManagerConnections:
    """Connections from Secrets Manager, cached `ttl_s` seconds (unknown ids for `miss_ttl_s`)."""

    def __init__(
        self,
        prefix: str,
        *,
        client: Any = None,
        ttl_s: float = 300,
        miss_ttl_s: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prefix = prefix
        self._client = client
        self.ttl_s, self.miss_ttl_s = ttl_s, miss_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Connection | None]] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - deferred: boto3 costs ~100 ms of cold import

            self._client = boto3.client("secretsmanager")
        return self._client

    def get(self, connection_id: str) -> Connection | None:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(connection_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        name = self.prefix + connection_id
        try:
            raw = self.client.get_secret_value(SecretId=name)["SecretString"]
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
            self._cache[connection_id] = (expires, conn)
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
