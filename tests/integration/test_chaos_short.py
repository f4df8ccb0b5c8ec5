"""`make chaos` in short (issue 15): a few dozen orders through the local stack on a bad day.

The same driver as `python -m local.chaos --orders 1000` (local/chaos.py): template.yaml's
wiring, the functions' real handlers, moto, the Intacct and channel sandboxes; every delivery sent
3 times, shuffled, by concurrent senders; Intacct failing transiently (503, 429 GW-0010, time-outs)
and committing then losing answers; an outage of 1.5 simulated hours (longer than one visibility
budget, 8 x 540 s); consumers killed mid-batch; the channel APIs throttling. Time is simulated
(moto's SQS clock, the breaker, the retry sleeps), and the fault draws are seeded; what the
assertions check holds whatever order the concurrent senders' requests arrive in.
"""

from __future__ import annotations

from decimal import Decimal

from local.chaos import SECRET_KINDS, Options, run


def test_a_short_chaos_run_loses_nothing_doubles_nothing_and_logs_no_secret() -> None:
    report = run(Options(orders=15, seed=15, outage_hours=1.5, kills=2, fuzz=300, gateway_fuzz=60, slices=5, senders=4))
    assert report.failures == [], "\n".join(report.failures)
    soak, r = report.figures["soak"], report.figures["results"]

    # Every order placed became one invoice (cancelled unpaid ones none), nothing doubled.
    assert r["invoices_live"] == r["invoices_expected"] > 0
    assert r["duplicate_documents"] == 0 and r["duplicate_payments"] == 0
    assert Decimal(r["payments_applied"]) == Decimal(r["payments_expected"]) > 0
    assert Decimal(r["credits"]) == Decimal(r["refunds"]) > 0
    assert r["deliveries_accounted_in_ledger"] == r["deliveries_unique"]
    assert r["waiting_payments"] == 0 and r["dlq"] == []

    # The bad day did happen: every kind of Intacct fault, kills, and an outage whose backlog
    # outlived one visibility budget without a single dead letter.
    fates = r["intacct_attempt_fates"]
    for kind in ("transient_503", "transient_429", "transient_timeout", "committed_answer_lost", "outage_503"):
        assert fates.get(kind, 0) > 0, kind
    assert r["consumers_killed"] == 2
    assert soak["outage_s"] >= 1.5 * 3600 - 120 and soak["dlq_during_outage"] == 0
    assert r["oldest_message_handled_s"] > r["visibility_budget_s"]
    assert soak["drained"]

    # Bad input: answered, never a crash; bad signatures always refused.
    assert report.figures["webhook_fuzz"]["failures"] == 0
    assert report.figures["webhook_fuzz"]["signature_attacks"]
    assert report.figures["gateway_fuzz"]["failures"] == 0

    # Secrets and personal data: none in any log line; secrets in no stored message either. The
    # scan sees the personal data where it legitimately is (the queued orders).
    found = report.figures["secret_scan"]["found"]
    assert all(n == 0 for n in found["log_lines"].values()), found["log_lines"]
    assert all(found[where][k] == 0 for where in ("sqs", "s3", "dynamodb") for k in SECRET_KINDS)
    assert found["sqs"]["emails"] > 0 and found["sqs"]["street_addresses"] > 0
    assert report.figures["secret_scan"]["log_lines_naming_an_order"] > 0
    assert report.figures["secret_scan"]["stored_items_scanned"]["s3"] >= 1  # the 120-line order's claim check
