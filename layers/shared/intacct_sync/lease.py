"""One run at a time per scheduled job, without reserved concurrency.

Reserving concurrency fails on accounts with the default quota (Lambda keeps 10 unreserved, and
new accounts have 10), so the template reserves it only when asked (`ReservedConcurrency=true`).
The stock push snapshot is read-modify-write and the writeback and reconcile watermarks are
advanced by one run, so an overlapping run (a slow run still going when the next schedule fires,
or EventBridge's retry of a run that timed out) must not work beside it. Each run leases
`lease#<job>` in the state table (conditional put); a run that finds it held skips. The lease
lasts the function's time-out plus a margin, so a crashed run frees it on its own.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from intacct_sync.dynamo import ConditionFailed, DynamoTable


class JobLease(DynamoTable):
    what = "state table (job lease)"

    def __init__(self, table: str, *, client: Any = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(table, client=client)
        self.clock = clock

    @contextlib.contextmanager
    def held(self, job: str, seconds: float) -> Iterator[bool]:
        """Yields True when this run holds the job for up to `seconds`, False when another run does."""
        token = uuid.uuid4().hex
        now = self.clock()
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item={
                    "pk": {"S": f"lease#{job}"},
                    "holder": {"S": token},
                    "lease_until": {"N": f"{now + seconds:.3f}"},
                    "expires": {"N": str(int(now + seconds + 86_400))},
                },
                ConditionExpression="attribute_not_exists(holder) OR lease_until < :now",
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            )
        except ConditionFailed:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(ConditionFailed):  # expired and taken over: not ours to free
                self._call(
                    "delete_item",
                    TableName=self.table,
                    Key={"pk": {"S": f"lease#{job}"}},
                    ConditionExpression="holder = :me",
                    ExpressionAttributeValues={":me": {"S": token}},
                )
