"""`make demo` keeps working: the whole pipeline runs and the summary holds what it should."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from local import demo


@pytest.fixture
def process_wide_settings_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The demo quiets logging and metrics for the whole process (it is a command); later tests need them."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.usefixtures("process_wide_settings_restored")
def test_the_demo_runs_the_whole_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    for expected in (
        "Sales Invoice-9001",
        "Sales Credit Memo-CM-9001-66001",
        "invoice deleted",
        "skipped: order status open: not placed",
        "forged Shopify request (bad HMAC) -> 401",
        "a byte-identical redelivery            -> 200",
        "Shopify order #9001 tags: intacct:9001",
        "(yen, paid by bank transfer in Intacct): financial_status paid",
        "a second stock push (nothing changed): bc-main: 0 written, shopify-main: 0 written, woo-main: 0 written",
    ):
        assert expected in out, expected
    assert "=== Parked messages, and why (fix, then: intacct-sync ops replay)\n  none" in out
    # Month end: the payout is one Intacct deposit equal to the bank line (issue 14).
    payouts = out.split("=== Payouts (intacct-sync ops payouts --all): bank line = deposit\n", 1)[1].split("\n\n")[0]
    match = re.fullmatch(
        r"  shopify-main  payout \d+: bank line (\S+) USD = deposit (\S+) \(Intacct deposit .*", payouts
    )
    assert match is not None and match.group(1) == match.group(2), payouts
