"""The DynamoDB concurrency gate (moto): the cap is exact, and waiting for a slot does not poll.

Deterministic: every gate shares a fake clock; a waiter's sleep advances it and runs the other
holders' releases that fall due, so the puts counted are the same on every run.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from intacct_sync.intacct.gate import DynamoSemaphore, NoIntacctSlot

TABLE = "gate-test"


class World:
    """A fake clock with scheduled events (other functions releasing their slots)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.events, (self.now + when, len(self.events), action))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        target = self.now + seconds
        while self.events and self.events[0][0] <= target:
            when, _, action = heapq.heappop(self.events)
            self.now = max(self.now, when)
            action()
        self.now = target


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield client


def gate(ddb: Any, world: World, *, seed: int = 1, wait_s: float = 30, **kw: Any) -> DynamoSemaphore:
    return DynamoSemaphore(
        TABLE,
        slots=kw.pop("slots", 2),
        client=ddb,
        clock=world.clock,
        sleep=world.sleep,
        rng=random.Random(seed),
        wait_s=lambda: wait_s,
        **kw,
    )


class Held:
    """A slot some other function holds until `release()` (or never: a crash)."""

    def __init__(self, g: DynamoSemaphore) -> None:
        self.cm = g.hold()
        self.slot = self.cm.__enter__()

    def release(self) -> None:
        self.cm.__exit__(None, None, None)


def test_two_callers_on_two_slots_take_one_put_per_request(ddb: Any) -> None:
    """Callers no more numerous than the slots keep their own slot: no busy slot is tried twice."""
    world = World()
    a, b = gate(ddb, world, seed=1), gate(ddb, world, seed=2)
    for _ in range(20):
        ha = Held(a)
        hb = Held(b)  # overlaps a's request
        assert {ha.slot, hb.slot} == {0, 1}
        ha.release()
        hb.release()
    assert a.stats.acquired == b.stats.acquired == 20
    # At most the very first put of each finds the other's slot (random first choice).
    assert a.stats.attempts + b.stats.attempts <= 40 + 1
    assert a.stats.waits == b.stats.waits == 0


def test_a_waiter_sleeps_until_the_expected_release_and_tries_once(ddb: Any) -> None:
    world = World()
    other = gate(ddb, world, seed=3)
    first, second = Held(other), Held(other)
    world.at(0.4, first.release)
    world.at(1.0, second.release)
    waiter = gate(ddb, world, seed=4, typical_hold_s=0.5)
    with waiter.hold() as slot:
        assert slot == first.slot
    # Both slots tried once (busy, read back: taken at t=0), one sleep to ~0.5 s, one put that wins.
    assert waiter.stats.attempts == 3
    assert waiter.stats.waits == 1
    assert 0.5 <= world.slept[0] <= 0.5 * 1.25
    world.sleep(10)  # the other function's second release


def test_a_holder_that_overruns_is_retried_with_growing_waits_not_polled(ddb: Any) -> None:
    """Both slots held 8 s (a slow request): the old gate tried both slots every <= 2 s round."""
    world = World()
    other = gate(ddb, world, seed=5)
    held = [Held(other), Held(other)]
    for h in held:
        world.at(8.0, h.release)
    waiter = gate(ddb, world, seed=6, typical_hold_s=0.5)
    with waiter.hold():
        pass
    assert world.now >= 1_008.0
    # Waits of 0.5 s (expected end), then 0.25, 0.5, 1, 2, 2 ... s, both slots tried at each:
    # 15 puts over 8 s, where a blind poll (both slots every 0.05-2 s, random) takes ~24.
    assert waiter.stats.waits <= 8, waiter.stats
    assert waiter.stats.attempts <= 2 + 2 * 7, waiter.stats
    assert max(world.slept) <= 2.0 * 1.25


def test_a_crashed_holders_slot_is_taken_when_its_lease_ends(ddb: Any) -> None:
    world = World()
    for slot in (0, 1):  # a function that crashed holding both slots: its items stay
        ddb.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": f"sem#intacct#{slot}"},
                "holder": {"S": "crashed"},
                "taken_at": {"N": f"{world.now:.3f}"},
                "lease_until": {"N": f"{world.now + 3:.3f}"},
            },
        )
    waiter = gate(ddb, world, seed=8)
    with waiter.hold():
        pass
    assert 1_003.0 <= world.now <= 1_003.0 + 2.0 * 1.25
    assert waiter.stats.attempts <= 12, waiter.stats


def test_the_cap_is_exact_and_a_caller_gives_up_at_its_deadline(ddb: Any) -> None:
    world = World()
    holders = [gate(ddb, world, seed=s) for s in (10, 11)]
    held = [Held(g) for g in holders]
    assert sorted(h.slot for h in held) == [0, 1]
    late = gate(ddb, world, seed=12, wait_s=1.5)
    with pytest.raises(NoIntacctSlot), late.hold():
        pass
    assert world.now <= 1_001.5
    assert late.stats.acquired == 0
    held[0].release()
    with late.hold() as slot:
        assert slot == held[0].slot
    held[1].release()


def test_a_waiter_tries_once_more_at_its_deadline_before_giving_up(ddb: Any) -> None:
    world = World()
    other = gate(ddb, world, seed=13)
    held = [Held(other), Held(other)]
    world.at(1.3, held[0].release)  # frees before the deadline, between two scheduled tries
    late = gate(ddb, world, seed=14, wait_s=1.4)
    with late.hold() as slot:
        assert slot == held[0].slot
    assert world.now == pytest.approx(1_001.4)
    held[1].release()
