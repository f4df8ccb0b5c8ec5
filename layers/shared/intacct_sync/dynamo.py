"""The state table's DynamoDB access shared by the ledger, the intake state and the stock snapshot.

One place maps boto errors to the product's types: a failed condition becomes `ConditionFailed`
(the caller decides what it means), anything else a `TransientError` subclass (retry later).
"""

from __future__ import annotations

from typing import Any, ClassVar

from intacct_sync.errors import TransientError


class ConditionFailed(Exception):
    """A conditional write found the item not in the expected state."""


class TableUnavailable(TransientError):
    """The state table could not be read or written now."""


class DynamoTable:
    """A low-level DynamoDB client bound to one table, created on first use (cold start stays small)."""

    unavailable: ClassVar[type[TransientError]] = TableUnavailable
    what: ClassVar[str] = "state table"

    def __init__(self, table: str, *, client: Any = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # noqa: PLC0415 - deferred: boto3 costs ~100 ms of cold import

            self._client = boto3.client("dynamodb")
        return self._client

    def _call(self, name: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            return getattr(self.client, name)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(name) from None
            raise self.unavailable(f"{self.what} {name} failed ({code})") from None
        except BotoCoreError as exc:
            raise self.unavailable(f"{self.what} unreachable ({type(exc).__name__})") from None
