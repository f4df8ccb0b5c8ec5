"""Make moto's DynamoDB apply each call atomically, as DynamoDB does.

moto answers a conditional write in steps (read the item, check the condition, write) with no lock,
so two threads of one process can both win the same condition: two holders of one Intacct slot,
two claims of one event id. DynamoDB applies every single-item write (and every transaction)
atomically, and the code's guarantees rest on that. `make_dynamodb_atomic()` runs every DynamoDB
action of this process's moto (in-process `mock_aws` and `ThreadedMotoServer` alike) under one
lock. Tests, the local stack, `make chaos` and the benches call it; a deployed stack never imports
this module.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()


def make_dynamodb_atomic() -> None:
    """Idempotent: patch moto's DynamoDB handler once per process."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_atomic", False):
        return
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    DynamoHandler._atomic = True  # type: ignore[attr-defined]
