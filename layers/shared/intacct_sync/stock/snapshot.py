"""What the stock push remembers per connection, in the state table (DynamoDB, pk only).

Layout (every value a zlib-compressed JSON document in binary attribute `d`):
- `stock#<connection>#meta`: the SKU-map crawl checkpoint (`cursor`, `crawling`), when the map
  was last completed (`resolved_at`), the channel's locations.
- `stock#<connection>#pushed#<nn>`: the last figure written per SKU and location, {sku: {loc: qty}}.
- `stock#<connection>#ids#<nn>`: SKU -> channel ids (the cached SKU resolution).
- `stock#<connection>#crawl#<nn>`: a crawl in progress (becomes `ids` when it completes).

SKUs are spread over `SHARDS` items by CRC-32, so 200,000 SKUs make items of a few tens of KB
compressed, far below DynamoDB's 400 KB item limit.

Saving: every change to the state marks its shard dirty, and `save_state` encodes and writes only
the dirty shards whose bytes differ from what the store holds (plus `meta` when it changed): a
run that changed nothing writes nothing, one that changed a few SKUs writes the shards holding
them. The state is loaded whole at the start of a run and saved by the same run (the job lease
of the scheduled function guarantees one run at a time), so what the store holds is what this
state was loaded from plus its own saves.

In memory the state is kept compact for large catalogues: per shard, one dict per location
(SKU -> quantity) rather than a dict per SKU; location strings shared; a SKU's channel ids as the
bare string when there is one (the SKU itself when the id is the SKU, as for BigCommerce); the SKU
strings of the `pushed` and `ids` documents shared.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

from intacct_sync.errors import TransientError

SHARDS: Final = 64
_KINDS: Final = ("pushed", "ids", "crawl")
_BATCH_GET: Final = 100

Key = tuple[str, str]
Ids = str | tuple[str, ...]
"""A SKU's channel ids in memory: the one id as a bare string, else a tuple."""


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


def _digest(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=16).digest()


_EMPTY: Final = _encode({})


def _pack(sku: str, ids: Iterable[str]) -> Ids:
    found = tuple(dict.fromkeys(str(i) for i in ids))
    if len(found) == 1:
        return sku if found[0] == sku else found[0]
    return found


def _unpack(ids: Ids) -> tuple[str, ...]:
    return (ids,) if isinstance(ids, str) else ids


class _PushedView(Mapping[Key, int]):
    """The last pushed figures as a read-only {(sku, location): quantity} mapping, without a copy."""

    def __init__(self, state: StockState) -> None:
        self._state = state

    def __getitem__(self, key: Key) -> int:
        found = self._state.pushed_quantity(*key)
        if found is None:
            raise KeyError(key)
        return found

    def get(self, key: Key, default: Any = None) -> Any:
        found = self._state.pushed_quantity(*key)
        return default if found is None else found

    def __contains__(self, key: object) -> bool:
        return (
            isinstance(key, tuple)
            and len(key) == 2
            and self._state.pushed_quantity(str(key[0]), str(key[1])) is not None
        )

    def __iter__(self) -> Iterator[Key]:
        for shard in self._state._pushed:
            for location, per in shard.items():
                for sku in per:
                    yield sku, location

    def __len__(self) -> int:
        return sum(len(per) for shard in self._state._pushed for per in shard.values())


class StockState:
    """One connection's stock memory: loaded whole, kept compact, saved by dirty shard."""

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        self.meta: dict[str, Any] = {}
        """Small; compared whole at each save (edit it freely)."""
        # shard -> location -> sku -> quantity
        self._pushed: list[dict[str, dict[str, int]]] = [{} for _ in range(SHARDS)]
        # shard -> sku -> ids (the completed map, and a crawl in progress)
        self._ids: list[dict[str, Ids]] = [{} for _ in range(SHARDS)]
        self._crawl: list[dict[str, Ids]] = [{} for _ in range(SHARDS)]
        self._locations: dict[str, str] = {}
        self._dirty: set[tuple[str, int]] = set()
        self._stored: dict[str, bytes] = {}
        """Document key -> digest of the bytes the store holds (as loaded or last saved)."""

    def key(self, kind: str, shard: int | None = None) -> str:
        base = f"stock#{self.connection_id}#{kind}"
        return base if shard is None else f"{base}#{shard:02d}"

    # --- last pushed figures -------------------------------------------------------------------

    def _location(self, location: str) -> str:
        return self._locations.setdefault(location, location)

    def pushed_quantity(self, sku: str, location: str) -> int | None:
        per = self._pushed[shard_of(sku)].get(location)
        return None if per is None else per.get(sku)

    def last_pushed(self) -> Mapping[Key, int]:
        """{(sku, location): quantity}, a live read-only view (no copy)."""
        return _PushedView(self)

    def record_pushed(self, sku: str, location: str, quantity: int) -> None:
        shard = shard_of(sku)
        per = self._pushed[shard].get(location)
        if per is None:
            per = self._pushed[shard][self._location(location)] = {}
        if per.get(sku) != quantity:
            per[sku] = quantity
            self._dirty.add(("pushed", shard))

    def forget_pushed(self, sku: str, location: str) -> None:
        shard = shard_of(sku)
        per = self._pushed[shard].get(location)
        if per is not None and sku in per:
            del per[sku]
            if not per:
                del self._pushed[shard][location]
            self._dirty.add(("pushed", shard))

    # --- the SKU -> channel ids map ------------------------------------------------------------

    def has_targets(self) -> bool:
        return any(self._ids)

    def targets_of(self, sku: str) -> tuple[str, ...]:
        """The channel ids of a SKU in the completed map; () when the channel has no such SKU."""
        found = self._ids[shard_of(sku)].get(sku)
        return () if found is None else _unpack(found)

    def target_skus(self) -> Iterator[str]:
        for shard in self._ids:
            yield from shard

    def target_count(self) -> int:
        return sum(len(shard) for shard in self._ids)

    def set_targets(self, sku: str, ids: Sequence[str]) -> None:
        """Replace a SKU's ids in the completed map (tests, tools; the push crawls instead)."""
        shard = shard_of(sku)
        self._ids[shard][sku] = _pack(sku, ids)
        self._dirty.add(("ids", shard))

    def start_crawl(self) -> None:
        """Forget a crawl in progress (its documents are emptied at the next save)."""
        for shard, part in enumerate(self._crawl):
            if part:
                part.clear()
                self._dirty.add(("crawl", shard))

    def add_crawled(self, page: Mapping[str, Sequence[str]]) -> None:
        """One crawled page: SKU -> ids, merged into the crawl in progress (a SKU may come back on
        another page with more ids)."""
        for sku, ids in page.items():
            shard = shard_of(sku)
            part = self._crawl[shard]
            before = part.get(sku)
            part[sku] = _pack(sku, (*_unpack(before), *ids) if before is not None else ids)
            self._dirty.add(("crawl", shard))

    def finish_crawl(self) -> None:
        """The crawl in progress becomes the map; shards that came out the same are not rewritten."""
        for shard in range(SHARDS):
            if self._ids[shard] or self._crawl[shard]:
                self._ids[shard], self._crawl[shard] = self._crawl[shard], {}
                self._dirty.add(("ids", shard))
                self._dirty.add(("crawl", shard))

    # --- documents -----------------------------------------------------------------------------

    def _document(self, kind: str, shard: int) -> dict[str, Any]:
        if kind == "pushed":
            doc: dict[str, dict[str, int]] = {}
            for location, per in self._pushed[shard].items():
                for sku, quantity in per.items():
                    doc.setdefault(sku, {})[location] = quantity
            return doc
        part = self._ids[shard] if kind == "ids" else self._crawl[shard]
        return {sku: list(_unpack(ids)) for sku, ids in part.items()}

    def documents(self) -> dict[str, bytes]:
        """Every document as it would be stored (tests and tools; saves encode dirty shards only)."""
        docs = {self.key("meta"): _encode(self.meta)}
        for kind in _KINDS:
            for shard in range(SHARDS):
                docs[self.key(kind, shard)] = _encode(self._document(kind, shard))
        return docs

    def _load(self, kind: str, shard: int, doc: Mapping[str, Any], skus: dict[str, str]) -> None:
        for raw_sku, value in doc.items():
            sku = skus.setdefault(raw_sku, raw_sku)
            home = shard_of(sku)
            if home != shard:  # written under another shard count: rewrite both documents
                self._dirty.update(((kind, shard), (kind, home)))
            if kind == "pushed":
                for location, quantity in value.items():
                    per = self._pushed[home].get(location)
                    if per is None:
                        per = self._pushed[home][self._location(location)] = {}
                    per[sku] = int(quantity)
            else:
                target = self._ids if kind == "ids" else self._crawl
                target[home][sku] = _pack(sku, value)


def load_state(store: SnapshotStore, connection_id: str) -> StockState:
    state = StockState(connection_id)
    meta_key = state.key("meta")
    keys = [meta_key] + [state.key(kind, i) for i in range(SHARDS) for kind in _KINDS]
    found = store.get(keys)
    if meta_key in found:
        state.meta = _decode(found.pop(meta_key))
        state._stored[meta_key] = _digest(_encode(state.meta))
    for shard in range(SHARDS):
        skus: dict[str, str] = {}  # one string per SKU across this shard's documents
        for kind in _KINDS:
            key = state.key(kind, shard)
            blob = found.pop(key, None)
            if blob is not None:
                state._stored[key] = _digest(blob)
                state._load(kind, shard, _decode(blob), skus)
    return state


def save_state(store: SnapshotStore, state: StockState, *, hold: Collection[tuple[str, int]] = ()) -> int:
    """Write the documents that changed since load (or the last save); returns how many.

    Only dirty shards are encoded; a document whose bytes equal the stored ones, or an empty one
    never stored, is not written. Nothing changed: nothing is encoded or written. `hold`: dirty
    documents ((kind, shard)) left for a later save (the shard a push is still writing).
    """
    changed: dict[str, bytes] = {}
    meta_key = state.key("meta")
    meta = _encode(state.meta)
    if state._stored.get(meta_key) != _digest(meta) and not (meta_key not in state._stored and meta == _EMPTY):
        changed[meta_key] = meta
    held = state._dirty.intersection(hold)
    for kind, shard in sorted(state._dirty - held):
        key = state.key(kind, shard)
        blob = _encode(state._document(kind, shard))
        stored = state._stored.get(key)
        if stored is None and blob == _EMPTY:
            continue
        if stored != _digest(blob):
            changed[key] = blob
    if changed:
        store.put(changed)
        state._stored.update((key, _digest(blob)) for key, blob in changed.items())
    state._dirty = held
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
