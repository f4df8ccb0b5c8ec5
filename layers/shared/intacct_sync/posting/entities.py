"""One poster per Intacct entity (issue 14): a multi-entity company's stores post each into its own
entity (connection key `intacct_entity_id`).

A wave is split by the entity of each event's connection, and each part goes to the poster of
that entity, whose Intacct client signs in to it (login `locationid`; sessions are cached per
entity): one Intacct request never mixes entities. A connection without the key posts where the
Intacct secret's `entity_id` points (the top level when that is absent too). The posters are
built on first use, once per container; settings and the circuit breaker's watch reach them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from intacct_sync.models.events import CanonicalEvent
from intacct_sync.posting.outcome import Outcome
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings


class EntityRouter:
    """Looks like one poster (`__call__`, `client`, `settings`) and routes by entity."""

    def __init__(self, build: Callable[[str | None], Any], entity_of: Callable[[str], str | None]) -> None:
        """`build(entity)`: a poster whose client signs in to `entity` (None: the secret's own).
        `entity_of(connection_id)`: the connection's `intacct_entity_id` (None: not set)."""
        self._build = build
        self._entity_of = entity_of
        self.default = build(None)
        self._posters: dict[str, Any] = {}

    @property
    def client(self) -> Any:
        """The default poster's client (what the circuit breaker watches; `watch_all` spreads it)."""
        return self.default.client

    @property
    def settings(self) -> Settings:
        settings: Settings = self.default.settings
        return settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self.default.settings = value
        for poster in self._posters.values():
            poster.settings = value

    def poster(self, entity: str | None) -> Any:
        if entity is None:
            return self.default
        if entity not in self._posters:
            built = self._build(entity)
            built.settings = self.default.settings
            self._posters[entity] = built
        return self._posters[entity]

    def _watch_all(self) -> None:
        """Each entity client reports to the guard the default client reports to (this batch's)."""
        from intacct_sync.posting.breaker import _Watch, watch  # noqa: PLC0415

        current = getattr(self.default.client, "execute", None)
        if isinstance(current, _Watch) and current.guard is not None:
            for poster in self._posters.values():
                watch(poster.client, current.guard)

    def __call__(self, events: Sequence[CanonicalEvent], deadline: Deadline) -> dict[str, Outcome]:
        parts: dict[str | None, list[CanonicalEvent]] = {}
        for e in events:
            parts.setdefault(self._entity_of(e.connection_id), []).append(e)
        outcomes: dict[str, Outcome] = {}
        for entity, part in parts.items():
            poster = self.poster(entity)
            self._watch_all()
            outcomes.update(poster(part, deadline))
        return outcomes
