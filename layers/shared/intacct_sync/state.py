"""The state table (DynamoDB): what the intake claimed and sent for each order, the newest order
state accepted, and each connection's reconcile watermark.

Items (partition key `pk`):
- `version#<connection>:<order id>`: one per order, never expires (no `expires` attribute).
  - `v`: the newest order state claimed (ISO-8601 UTC, fixed width, so string order is time
    order). A stale state (older than `v`) is refused for as long as the order exists.
  - `e<16 hex>`: one per event claimed for the order (the hex digits are `claim_name`'s digest of
    the event id, the channel's event identity). Value `p<epoch s>[|<version>]` while the event is
    claimed but not known to be on the queue, `s<epoch s>[|<version>]` once it is known to be;
    `<version>` is the order state the event carries (order states only). Claims are pruned by the
    writes that settle them (`prunable`): superseded order states (a redelivery is refused as
    stale anyway), claims older than `DEDUP_DAYS`, and the oldest when more than `MAX_CLAIMS`.
- `watermark#<connection>`: `v` = where the next reconcile poll starts.

Items of the previous layout, `event#<event id>` (one per accepted event), are no longer written;
their TTL (`expires`) removes them.

Every write to an order's item is one UpdateItem: DynamoDB applies it atomically, and with
`ReturnValues=ALL_OLD` (or `ReturnValuesOnConditionCheckFailure=ALL_OLD` when its condition
fails) it answers with the item as it was, so one call both checks and claims. The decisions
(what is new, a duplicate, stale, to send again) are made by `intake.pipeline` from that answer.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from intacct_sync.dynamo import ConditionFailed, DynamoTable, TableUnavailable

DEDUP_DAYS = 35
"""A claim is kept at least this long (longer than any channel retries or the reconcile look-back)."""
MAX_CLAIMS = 64
"""Claims kept per order when a write settles them: far more than a real order's events in
`DEDUP_DAYS` (its order states are pruned as they are superseded); bounds the item's size."""
VERSIONED_TYPES = frozenset({"order", "order_reference"})
_BATCH_GET = 100
_CLAIM_PREFIX = "e"


class StateUnavailable(TableUnavailable):
    """The state table could not be read or written now."""


def version_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_version(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def claim_name(event_id: str) -> str:
    """The attribute that holds `event_id`'s claim on its order's item (64 bits of BLAKE2b:
    collisions within one order's few dozen claims are out of reach)."""
    return _CLAIM_PREFIX + hashlib.blake2b(event_id.encode(), digest_size=8).hexdigest()


def claim_value(*, sent: bool, at: int, version: str | None) -> str:
    return f"{'s' if sent else 'p'}{at}" + (f"|{version}" if version else "")


@dataclass(frozen=True, slots=True)
class Claim:
    sent: bool
    """True once the event is known to be on the queue; False: claimed, maybe not sent."""
    at: int
    """When it was claimed (epoch seconds)."""
    version: str | None
    """The order state the event carries (order states), else None."""
    raw: str

    @classmethod
    def parse(cls, raw: str) -> Claim:
        stamp, _, version = raw[1:].partition("|")
        return cls(sent=raw.startswith("s"), at=int(stamp) if stamp.isdigit() else 0, version=version or None, raw=raw)


@dataclass
class OrderState:
    """An order's item as read (or as it was before a write)."""

    version: str | None = None
    claims: dict[str, Claim] = field(default_factory=dict)

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, str]) -> OrderState:
        return cls(
            version=attributes.get("v"),
            claims={k: Claim.parse(v) for k, v in attributes.items() if k.startswith(_CLAIM_PREFIX)},
        )

    def covered(self, version: str, retried_since: int | None) -> bool:
        """Whether the order state at `version` (the newest claimed) is on the queue or will be
        without the poll: a claim of it says sent, or the channel still retries (`retried_since`
        not None) and no claim of it is older than `retried_since`. A version with no claim at all
        was written by the previous layout after its send, or kept after a failed send's claims
        were removed (answered 503, so the channel retries); a channel that never retries gets it
        sent again."""
        at_version = [c for c in self.claims.values() if c.version == version]
        if any(c.sent for c in at_version):
            return True
        return retried_since is not None and all(c.at >= retried_since for c in at_version)


def prunable(state: OrderState, *, now: float, keep: frozenset[str] = frozenset()) -> list[str]:
    """Claims of `state` a settling write may remove: order states older than the newest, claims
    older than `DEDUP_DAYS`, and, when more than `MAX_CLAIMS` are left, all but the newest half of
    that (so the write that trims is rare); never those in `keep`."""
    horizon = now - DEDUP_DAYS * 86_400
    gone = [
        name
        for name, c in state.claims.items()
        if name not in keep
        and ((c.version is not None and state.version is not None and c.version < state.version) or c.at < horizon)
    ]
    left = sorted(
        ((c.at, name) for name, c in state.claims.items() if name not in keep and name not in gone), reverse=True
    )
    if len(left) > MAX_CLAIMS:
        gone += [name for _, name in left[MAX_CLAIMS // 2 :]]
    return gone


class StateStore(Protocol):
    """The intake's state (one item per order) and the reconcile watermarks."""

    def claim(
        self, group: str, claims: Mapping[str, str], *, version: str | None, not_older_than: str | None
    ) -> tuple[bool, OrderState]:
        """One atomic write to `group`'s item: each claim (name -> value) not there yet is added,
        and `v` set to `version` when given; all only if `v` is absent or `<= not_older_than`
        (when given). Returns (written, the item as it was before)."""
        ...

    def release(self, group: str, claims: Mapping[str, str]) -> None:
        """Remove these claims where they still hold exactly these values (a failed send's)."""
        ...

    def settle(self, group: str, sent: Mapping[str, str], *, version: str | None, remove: Sequence[str]) -> None:
        """Write these claims (as sent), advance `v` to `version` if that is newer, remove `remove`."""
        ...

    def read(self, groups: Sequence[str]) -> dict[str, OrderState]:
        """The items of these orders (missing ones are left out)."""
        ...

    def get_watermark(self, connection_id: str) -> datetime | None: ...

    def set_watermark(self, connection_id: str, moment: datetime) -> None: ...


def _names(prefix: str, keys: Sequence[str]) -> dict[str, str]:
    return {f"#{prefix}{i}": k for i, k in enumerate(keys)}


class DynamoStateStore(DynamoTable):
    unavailable = StateUnavailable

    def claim(
        self, group: str, claims: Mapping[str, str], *, version: str | None, not_older_than: str | None
    ) -> tuple[bool, OrderState]:
        keys = list(claims)
        names = _names("c", keys)
        values: dict[str, Any] = {f":c{i}": {"S": claims[k]} for i, k in enumerate(keys)}
        sets = [f"#c{i} = if_not_exists(#c{i}, :c{i})" for i in range(len(keys))]
        if version is not None:
            names["#v"] = "v"
            values[":v"] = {"S": version}
            sets.append("#v = :v")
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": f"version#{group}"}},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_OLD",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if not_older_than is not None:
            names["#v"] = "v"
            values[":m"] = {"S": not_older_than}
            request["ConditionExpression"] = "attribute_not_exists(#v) OR #v <= :m"
        written, item = self._update(request)
        return written, _state(item)

    def _update(self, request: dict[str, Any]) -> tuple[bool, Mapping[str, Any]]:
        """UpdateItem returning (written, the item before): `DynamoTable._call` drops the item a
        failed condition returns, so the error mapping is repeated here to keep it."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            return True, self.client.update_item(**request).get("Attributes") or {}
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                return False, exc.response.get("Item") or {}
            raise self.unavailable(f"{self.what} update_item failed ({code})") from None
        except BotoCoreError as exc:
            raise self.unavailable(f"{self.what} unreachable ({type(exc).__name__})") from None

    def release(self, group: str, claims: Mapping[str, str]) -> None:
        keys = list(claims)
        if not keys:
            return
        with_values = {f":c{i}": {"S": claims[k]} for i, k in enumerate(keys)}
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key={"pk": {"S": f"version#{group}"}},
                UpdateExpression="REMOVE " + ", ".join(f"#c{i}" for i in range(len(keys))),
                ConditionExpression=" AND ".join(f"#c{i} = :c{i}" for i in range(len(keys))),
                ExpressionAttributeNames=_names("c", keys),
                ExpressionAttributeValues=with_values,
            )
        except ConditionFailed:  # one was settled meanwhile (sent by a concurrent delivery): keep them
            return

    def settle(self, group: str, sent: Mapping[str, str], *, version: str | None, remove: Sequence[str]) -> None:
        keys = list(sent)
        names = _names("c", keys) | _names("r", list(remove))
        values: dict[str, Any] = {f":c{i}": {"S": sent[k]} for i, k in enumerate(keys)}
        sets = [f"#c{i} = :c{i}" for i in range(len(keys))]
        request: dict[str, Any] = {"TableName": self.table, "Key": {"pk": {"S": f"version#{group}"}}}
        if version is not None:
            names["#v"] = "v"
            values[":v"] = {"S": version}
            sets.append("#v = :v")
            request["ConditionExpression"] = "attribute_not_exists(#v) OR #v < :v"
        parts = (["SET " + ", ".join(sets)] if sets else []) + (
            ["REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))] if remove else []
        )
        if not parts:
            return
        request |= {"UpdateExpression": " ".join(parts), "ExpressionAttributeNames": names}
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._call("update_item", **request)
        except ConditionFailed:  # `v` is already as new: write the rest without it
            self.settle(group, sent, version=None, remove=remove)

    def read(self, groups: Sequence[str]) -> dict[str, OrderState]:
        keys = [f"version#{g}" for g in dict.fromkeys(groups)]
        found: dict[str, OrderState] = {}
        for start in range(0, len(keys), _BATCH_GET):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": k}} for k in keys[start : start + _BATCH_GET]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                out = self._call("batch_get_item", RequestItems=pending)
                for item in out.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"].partition("#")[2]] = _state(item)
                pending = out.get("UnprocessedKeys") or {}
        return found

    def get_watermark(self, connection_id: str) -> datetime | None:
        item = self._call(
            "get_item",
            TableName=self.table,
            Key={"pk": {"S": f"watermark#{connection_id}"}},
            ConsistentRead=True,
        ).get("Item")
        return parse_version(item["v"]["S"]) if item else None

    def set_watermark(self, connection_id: str, moment: datetime) -> None:
        self._call(
            "put_item",
            TableName=self.table,
            Item={"pk": {"S": f"watermark#{connection_id}"}, "v": {"S": version_text(moment)}},
        )


def _state(item: Mapping[str, Any]) -> OrderState:
    return OrderState.from_attributes({k: v["S"] for k, v in item.items() if k != "pk" and "S" in v})


class InMemoryStateStore:
    """The same contract in memory (unit tests), item by item as DynamoDB applies it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: dict[str, dict[str, str]] = {}
        self.watermarks: dict[str, datetime] = {}

    def claim(
        self, group: str, claims: Mapping[str, str], *, version: str | None, not_older_than: str | None
    ) -> tuple[bool, OrderState]:
        with self._lock:
            item = self.items.get(group, {})
            old = OrderState.from_attributes(item)
            current = item.get("v")
            if not_older_than is not None and current is not None and current > not_older_than:
                return False, old
            new = dict(item)
            for name, value in claims.items():
                new.setdefault(name, value)
            if version is not None:
                new["v"] = version
            self.items[group] = new
            return True, old

    def release(self, group: str, claims: Mapping[str, str]) -> None:
        with self._lock:
            item = self.items.get(group, {})
            if all(item.get(name) == value for name, value in claims.items()):
                for name in claims:
                    item.pop(name, None)

    def settle(self, group: str, sent: Mapping[str, str], *, version: str | None, remove: Sequence[str]) -> None:
        with self._lock:
            item = self.items.setdefault(group, {})
            item.update(sent)
            if version is not None and (item.get("v") is None or item["v"] < version):
                item["v"] = version
            for name in remove:
                item.pop(name, None)

    def read(self, groups: Sequence[str]) -> dict[str, OrderState]:
        with self._lock:
            return {g: OrderState.from_attributes(self.items[g]) for g in groups if g in self.items}

    def get_watermark(self, connection_id: str) -> datetime | None:
        return self.watermarks.get(connection_id)

    def set_watermark(self, connection_id: str, moment: datetime) -> None:
        self.watermarks[connection_id] = moment
