"""Builds the production objects from the environment, once per warm container.

Handlers stay a few lines: they ask this module for a poster or an intake and call it. Secrets and
settings are read through Powertools Parameters with a cache (5 minutes), so a warm container
costs no Secrets Manager or SSM call per message.

Cold import: a handler module imports this one at load, so it imports nothing heavy itself.
pydantic models, requests, the posting code and the Powertools utilities load when a builder
below first runs (the first invocation), once per container.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from intacct_sync.retry import Deadline

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    from intacct_sync.connections import ConnectionStore
    from intacct_sync.environment import Environment
    from intacct_sync.intacct import IntacctClient, IntacctCredentials
    from intacct_sync.models.events import CanonicalEvent
    from intacct_sync.models.order import Order, Refund
    from intacct_sync.posting.entities import EntityRouter
    from intacct_sync.posting.orders import OrderPoster
    from intacct_sync.posting.payments import PaymentPoster
    from intacct_sync.queues import SqsEventQueue
    from intacct_sync.settings import Settings

CACHE_S = 300


def trace_when_imported(tracer: Tracer, *modules: str) -> None:
    """X-Ray patches each of `modules` when it is first imported, not now.

    `Tracer(patch_modules=[..., "requests"])` imports requests at construction, at cold import
    (another 0.1-0.2x of `import boto3`). A post-import hook patches the module the moment the
    first call's code imports it, before anything uses it, so every request is still traced.
    With tracing disabled `Tracer.patch` does nothing.
    """
    import wrapt  # noqa: PLC0415 - already loaded by aws_xray_sdk (the Tracer's provider)

    def patch(module: ModuleType) -> None:
        tracer.patch(modules=[module.__name__])

    for name in modules:
        wrapt.register_post_import_hook(patch, name)


@functools.cache
def environment() -> Environment:
    from intacct_sync.environment import Environment  # noqa: PLC0415 - pydantic: first call, not import

    return Environment.load()


def settings(env: Environment) -> Settings:
    """The sync settings from the SSM parameter (JSON), or the defaults when none is configured."""
    from intacct_sync.settings import DEFAULT_SETTINGS, load_settings  # noqa: PLC0415

    if not env.settings_parameter:
        return DEFAULT_SETTINGS
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    raw = parameters.get_parameter(env.settings_parameter, max_age=CACHE_S)
    return load_settings(str(raw))


def intacct_credentials(env: Environment) -> IntacctCredentials:
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    from intacct_sync.connections import secret_string  # noqa: PLC0415
    from intacct_sync.intacct.credentials import IntacctCredentials  # noqa: PLC0415

    env.require("intacct_secret_arn")
    raw: Any = parameters.get_secret(env.intacct_secret_arn or "", max_age=CACHE_S)
    if isinstance(raw, bytes | bytearray):  # Powertools hands back SecretBinary as bytes
        return IntacctCredentials.from_secret(
            secret_string({"SecretBinary": raw}, env.intacct_secret_arn or "", what="Intacct credentials",
                          readme="Intacct setup")
        )  # fmt: skip
    return IntacctCredentials.from_secret(raw if isinstance(raw, str) else json.dumps(raw))


class CurrentDeadline:
    """The running invocation's deadline, for objects built once per container."""

    def __init__(self) -> None:
        self.deadline = Deadline.after(30)

    def remaining(self) -> float:
        return self.deadline.remaining()


CURRENT = CurrentDeadline()


def intacct_client(env: Environment, entity: str | None = None) -> IntacctClient:
    """A client whose every request first takes one of the stack-wide Intacct slots; signed in to
    `entity` when given (a connection's `intacct_entity_id`), else where the secret says."""
    from intacct_sync.intacct.client import IntacctClient  # noqa: PLC0415
    from intacct_sync.intacct.gate import DynamoSemaphore  # noqa: PLC0415

    env.require("state_table")
    gate = DynamoSemaphore(env.state_table or "", slots=env.intacct_max_concurrency, wait_s=CURRENT.remaining)
    credentials = intacct_credentials(env)
    if entity is not None:
        credentials = credentials.model_copy(update={"entity_id": entity})
    return IntacctClient(credentials, gate=gate.hold)


def queue(env: Environment) -> SqsEventQueue:
    from intacct_sync.queues import SqsEventQueue  # noqa: PLC0415

    env.require("orders_queue_url", "payments_queue_url", "claim_check_bucket")
    return SqsEventQueue(
        orders_url=env.orders_queue_url or "",
        payments_url=env.payments_queue_url or "",
        bucket=env.claim_check_bucket or "",
    )


def connections(env: Environment) -> ConnectionStore:
    from intacct_sync.connections import SecretsManagerConnections  # noqa: PLC0415

    return SecretsManagerConnections(env.connection_secret_prefix)


class ChannelFetcher:
    """Fetches an order's current state through its connection's channel API."""

    def __init__(self, store: ConnectionStore) -> None:
        self.store = store

    def events(self, event: CanonicalEvent, deadline: Deadline) -> list[CanonicalEvent]:
        from intacct_sync.channels.api import client_for  # noqa: PLC0415 - requests: on first fetch
        from intacct_sync.errors import PermanentError  # noqa: PLC0415

        connection = self.store.get(event.connection_id)
        if connection is None:
            raise PermanentError(
                f"connection '{event.connection_id}' no longer exists",
                fix="Re-create its secret, or discard the message.",
            )
        return client_for(connection).fetch_order_events(event.order_id, deadline=deadline)

    def order(self, event: CanonicalEvent, deadline: Deadline) -> Order | None:
        from intacct_sync.models.events import OrderEvent  # noqa: PLC0415

        found = [e for e in self.events(event, deadline) if isinstance(e, OrderEvent)]
        return found[0].payload if found else None

    def refund(self, refund: Refund, deadline: Deadline) -> Refund | None:
        """The refund's current state in full (see `ChannelClient.fetch_refund`)."""
        from intacct_sync.channels.api import client_for  # noqa: PLC0415
        from intacct_sync.errors import PermanentError  # noqa: PLC0415

        connection = self.store.get(refund.connection_id)
        if connection is None:
            raise PermanentError(
                f"connection '{refund.connection_id}' no longer exists",
                fix="Re-create its secret, or discard the message.",
            )
        return client_for(connection).fetch_refund(refund, deadline=deadline)


def by_entity(env: Environment, kind: str) -> EntityRouter:
    """The consumer's poster: one per Intacct entity (`posting.entities`), by each event's
    connection's `intacct_entity_id` (issue 14)."""
    from intacct_sync.posting.entities import EntityRouter  # noqa: PLC0415

    store = connections(env)

    def entity_of(connection_id: str) -> str | None:
        try:
            connection = store.get(connection_id)
        except Exception:  # unreadable now: the default entity; the poster meets the same error
            return None
        return connection.intacct_entity_id if connection is not None else None

    def build(entity: str | None) -> Any:
        return order_poster(env, entity) if kind == "orders" else payment_poster(env, entity)

    return EntityRouter(build, entity_of)


def order_poster(env: Environment, entity: str | None = None) -> OrderPoster:
    from intacct_sync.intake.pipeline import EventPipeline  # noqa: PLC0415
    from intacct_sync.ledger import DynamoLedger  # noqa: PLC0415
    from intacct_sync.posting.orders import OrderPoster  # noqa: PLC0415
    from intacct_sync.state import DynamoStateStore  # noqa: PLC0415

    env.require("state_table")
    pipeline = EventPipeline(DynamoStateStore(env.state_table or ""), queue(env))
    fetcher = ChannelFetcher(connections(env))

    def forward(events: Sequence[CanonicalEvent]) -> None:
        pipeline.submit(events)

    return OrderPoster(
        intacct_client(env, entity),
        DynamoLedger(env.state_table or ""),
        settings(env),
        fetch_order=fetcher.events,
        forward=forward,
    )


def payment_poster(env: Environment, entity: str | None = None) -> PaymentPoster:
    from intacct_sync.ledger import DynamoLedger  # noqa: PLC0415
    from intacct_sync.posting.cash_change import CashChangePoster  # noqa: PLC0415

    env.require("state_table")
    fetcher = ChannelFetcher(connections(env))
    return CashChangePoster(  # POS cash change netted from its sale, else the PaymentPoster
        intacct_client(env, entity),
        DynamoLedger(env.state_table or ""),
        settings(env),
        fetch_order=fetcher.order,
        fetch_refund=fetcher.refund,
    )


def decoder(env: Environment) -> Any:
    """Queue message body -> canonical event, following claim checks into the bucket."""
    from intacct_sync.queues import decode  # noqa: PLC0415

    q = queue(env)
    return lambda body: decode(body, q.get_claim)
