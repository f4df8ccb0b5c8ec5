"""What the stock push remembers per connection, in the state table (DynamoDB, pk only).

Layout (every value a zlib-compressed JSON document in binary attribute `d`):
- `stock#<connection>#meta`: the SKU-map crawl checkpoint (`cursor`, `crawling`), when the map
  was last completed (`resolved_at`), the channel's locations.
- `stock#<connection>#pushed#<nn>`: the last figure written per SKU and location, {sku: {loc: qty}}.
- `stock#<connection>#ids#<nn>`: SKU -> channel ids (the cached SKU resolution).
- `stock#<connection>#crawl#<nn>`: a crawl in progress (becomes `ids` when it completes).

SKUs are spread over `SHARDS` items by CRC-32, so 50,000 SKUs make items of a few tens of KB
compressed, far below DynamoDB's 400 KB item limit, and a run that changed a few SKUs rewrites
only the shards holding them (a shard is written only when its bytes changed).
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from intacct_sync.errors import TransientError

SHARDS: Final = 64
_KINDS: Final = ("pushed", "ids", "crawl")
_BATCH_GET: Final = 100


class SnapshotUnavailable(TransientError):
    """The state table could not be read or written now."""


class SnapshotStore(Protocol):
    def get(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Stored documents by key (missing keys are left out)."""
        ...

    def put(self, items: Mapping[str, bytes]) -> None: ...


def shard_of(sku: str) -> int:
    return zlib.crc32(sku.encode()) % SHARDS


def _encode(value: object) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":"), sort_keys=True).encode(), 6)


def _decode(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


@dataclass
class StockState:
    """One connection's stock memory, loaded whole (a few MB at most for 50,000 SKUs)."""

    connection_id: str
    pushed: dict[str, dict[str, int]] = field(default_factory=dict)
    targets: dict[str, list[str]] = field(default_factory=dict)
    crawl: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    _stored: dict[str, bytes] = field(default_factory=dict, repr=False)

    def key(self, kind: str, shard: int | None = None) -> str:
        base = f"stock#{self.connection_id}#{kind}"
        return base if shard is None else f"{base}#{shard:02d}"

    def last_pushed(self) -> dict[tuple[str, str], int]:
        return {(sku, loc): qty for sku, per in self.pushed.items() for loc, qty in per.items()}

    def record_pushed(self, sku: str, location: str, quantity: int) -> None:
        self.pushed.setdefault(sku, {})[location] = quantity

    def forget_pushed(self, sku: str, location: str) -> None:
        per = self.pushed.get(sku)
        if per is not None:
            per.pop(location, None)
            if not per:
                del self.pushed[sku]

    def documents(self) -> dict[str, bytes]:
        shards: dict[str, list[dict[str, Any]]] = {kind: [{} for _ in range(SHARDS)] for kind in _KINDS}
        for kind, source in (("pushed", self.pushed), ("ids", self.targets), ("crawl", self.crawl)):
            for sku, value in source.items():
                shards[kind][shard_of(sku)][sku] = value
        docs = {self.key("meta"): _encode(self.meta)}
        for kind, parts in shards.items():
            for i, part in enumerate(parts):
                docs[self.key(kind, i)] = _encode(part)
        return docs


def load_state(store: SnapshotStore, connection_id: str) -> StockState:
    state = StockState(connection_id)
    keys = [state.key("meta")] + [state.key(kind, i) for kind in _KINDS for i in range(SHARDS)]
    found = store.get(keys)
    state._stored = dict(found)
    if state.key("meta") in found:
        state.meta = _decode(found[state.key("meta")])
    for kind, target in (("pushed", state.pushed), ("ids", state.targets), ("crawl", state.crawl)):
        for i in range(SHARDS):
            blob = found.get(state.key(kind, i))
            if blob is not None:
                target.update(_decode(blob))
    return state


def save_state(store: SnapshotStore, state: StockState) -> int:
    """Write the documents that changed since load (or the last save); returns how many."""
    empty = _encode({})
    changed = {
        k: v
        for k, v in state.documents().items()
        if state._stored.get(k) != v and not (k not in state._stored and v == empty)
    }
    if changed:
        store.put(changed)
        state._stored.update(changed)
    return len(changed)


class InMemorySnapshotStore:
    """The same contract in memory (unit tests, benches, the CLI without AWS)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: dict[str, bytes] = {}
        self.puts = 0

    def get(self, keys: Sequence[str]) -> dict[str, bytes]:
        with self._lock:
            return {k: self.items[k] for k in keys if k in self.items}

    def put(self, items: Mapping[str, bytes]) -> None:
        with self._lock:
            self.items.update(items)
            self.puts += len(items)


class DynamoSnapshotStore:
    """Documents as items of the state table: `pk`, binary `d`."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - deferred like every AWS client here

            self._client = boto3.client("dynamodb")
        return self._client

    def _call(self, name: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            return getattr(self.client, name)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            raise SnapshotUnavailable(f"stock snapshot {name} failed ({code})") from None
        except BotoCoreError as exc:
            raise SnapshotUnavailable(f"state table unreachable ({type(exc).__name__})") from None

    def get(self, keys: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for start in range(0, len(keys), _BATCH_GET):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": k}} for k in keys[start : start + _BATCH_GET]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                res = self._call("batch_get_item", RequestItems=pending)
                for item in res.get("Responses", {}).get(self.table, []):
                    out[item["pk"]["S"]] = bytes(item["d"]["B"])
                pending = res.get("UnprocessedKeys") or {}
        return out

    def put(self, items: Mapping[str, bytes]) -> None:
        # One put per changed document (not a batch): each is a few KB, and the few a normal run
        # changes cost less than the retry bookkeeping of BatchWriteItem.
        for key, blob in items.items():
            self._call("put_item", TableName=self.table, Item={"pk": {"S": key}, "d": {"B": blob}})
