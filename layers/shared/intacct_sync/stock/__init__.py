"""Stock push: Intacct on-hand per item and warehouse -> each channel's stock, delta only.

    report = push_connection(connection, intacct, client_for(connection), DynamoSnapshotStore(table),
                             settings, deadline=deadline)

`model` is the pure part (figures and differences), `snapshot` what is remembered between runs,
`source` the Intacct read, `push` the run.
"""

from intacct_sync.stock.model import OnHand, PushReport, StockChange, diff, publishable
from intacct_sync.stock.push import push_all, push_connection
from intacct_sync.stock.snapshot import DynamoSnapshotStore, InMemorySnapshotStore, SnapshotStore, StockState

__all__ = [
    "DynamoSnapshotStore",
    "InMemorySnapshotStore",
    "OnHand",
    "PushReport",
    "SnapshotStore",
    "StockChange",
    "StockState",
    "diff",
    "publishable",
    "push_all",
    "push_connection",
]
