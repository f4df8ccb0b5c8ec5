"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.channel_sandbox import ChannelSandbox


@pytest.fixture(scope="module")
def _channel_server() -> Iterator[ChannelSandbox]:
    """One channel sandbox per test module (a module that needs another defines its own `cs`)."""
    server = ChannelSandbox.start()
    yield server
    server.stop()


@pytest.fixture
def cs(_channel_server: ChannelSandbox) -> ChannelSandbox:
    """The module's channel sandbox, reset: no stores' data, faults or holds of an earlier test."""
    _channel_server.reset()
    return _channel_server
