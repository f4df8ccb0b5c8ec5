"""A stack-wide cap on concurrent Intacct requests (default 2, Intacct's usual per-company limit).

Every function that calls Intacct passes `DynamoSemaphore(...).hold` as the client's `gate`: each
HTTP request first leases one of N slot items in the state table (conditional put), and frees it
after. A lease expires on its own after `lease_s`, so a crashed function cannot hold a slot
forever. Waiting for a slot backs off with jitter inside the caller's deadline.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from intacct_sync.dynamo import ConditionFailed, DynamoTable
from intacct_sync.errors import TransientError


class NoIntacctSlot(TransientError):
    """Every slot stayed busy until the deadline: retry the work later."""


class DynamoSemaphore(DynamoTable):
    what = "Intacct slot table"

    def __init__(
        self,
        table: str,
        *,
        slots: int = 2,
        name: str = "intacct",
        lease_s: float = 90.0,
        wait_s: Callable[[], float] | None = None,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`wait_s()` gives how long a caller may wait for a slot (e.g. the deadline's remaining)."""
        if slots < 1:
            raise ValueError("the Intacct concurrency cap is at least 1")
        super().__init__(table, client=client)
        self.slots, self.name, self.lease_s = slots, name, lease_s
        self.wait_s = wait_s or (lambda: 30.0)
        self.sleep = sleep
        self.holder = f"{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._counter = 0

    def _try(self, slot: int, token: str) -> bool:
        now = time.time()
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item={
                    "pk": {"S": f"sem#{self.name}#{slot}"},
                    "holder": {"S": token},
                    "lease_until": {"N": f"{now + self.lease_s:.3f}"},
                    "expires": {"N": str(int(now + self.lease_s + 3600))},
                },
                ConditionExpression="attribute_not_exists(holder) OR lease_until < :now",
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            )
        except ConditionFailed:
            return False
        return True

    def _release(self, slot: int, token: str) -> None:
        with contextlib.suppress(ConditionFailed):  # lease expired and was taken over: nothing to free
            self._call(
                "delete_item",
                TableName=self.table,
                Key={"pk": {"S": f"sem#{self.name}#{slot}"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": token}},
            )

    @contextlib.contextmanager
    def hold(self) -> Iterator[int]:
        """Lease a slot for the duration of the block; raises NoIntacctSlot when none frees up."""
        with self._lock:
            self._counter += 1
            token = f"{self.holder}-{self._counter}"
        give_up = time.monotonic() + max(0.0, self.wait_s())
        attempt = 0
        start = random.randrange(self.slots)  # noqa: S311 - spreading load, not security
        while True:
            for i in range(self.slots):
                slot = (start + i) % self.slots
                if self._try(slot, token):
                    try:
                        yield slot
                    finally:
                        self._release(slot, token)
                    return
            attempt += 1
            delay = random.uniform(0, min(2.0, 0.05 * 2**attempt))  # noqa: S311
            if time.monotonic() + delay > give_up:
                raise NoIntacctSlot(
                    f"all {self.slots} Intacct request slots stayed busy",
                    fix="The Intacct concurrency cap (INTACCT_MAX_CONCURRENCY) was reached; it is retried.",
                )
            self.sleep(delay)
