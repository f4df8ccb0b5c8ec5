"""Dry run of the rules and the field map for one channel order: no Intacct, no AWS.

    intacct-sync rules --settings settings.json --order order.json --channel shopify [--connection ID]

Prints which rules applied and why every other rule did not, the customer match, the
invoice the sync would create (lines with item, warehouse, location, department, class;
subtotals; the total as Intacct computes it next to the channel's total), and its bill-to and
ship-to (name, company, address, phone, e-mail, and the contact named).

`--order` is the channel's order JSON: a Shopify order (webhook body or REST `order`), a
WooCommerce order, or for BigCommerce the bundle `{"order": ..., "products": [...],
"shipping_addresses": [...]}` the consumer fetches. Exit status: 0 done, 1 totals differ,
2 bad settings or arguments, 3 unreadable order, 4 the order cannot be posted (reason and fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from intacct_sync.channels import bigcommerce, shopify, woocommerce
from intacct_sync.channels.errors import InvalidPayload
from intacct_sync.cli.main import Failure, command, common_options
from intacct_sync.errors import ConfigurationError, PermanentError
from intacct_sync.intacct.documents import SalesTransaction
from intacct_sync.models.connection import Connection
from intacct_sync.models.order import Channel, Order
from intacct_sync.posting.contacts import OrderContacts
from intacct_sync.posting.customers import customer_id_for, match_key
from intacct_sync.posting.mapping import document_contacts, intacct_total, invoice_for
from intacct_sync.posting.rules import RuleOutcome, evaluate
from intacct_sync.settings import Settings, load_settings_file

CHANNELS: tuple[Channel, ...] = ("shopify", "woocommerce", "bigcommerce")


def parse_order(data: Any, channel: Channel, connection: Connection) -> Order:
    """Channel JSON (decoded) -> canonical Order through the channel's own adapter."""
    if channel == "shopify":
        return shopify.order_from_json(data.get("order", data) if isinstance(data, dict) else data, connection)
    if channel == "woocommerce":
        return woocommerce.order_from_json(data, connection)
    if not (isinstance(data, dict) and "order" in data):
        raise InvalidPayload('a BigCommerce order is the bundle {"order", "products", "shipping_addresses"}', path="$")
    return bigcommerce.parse_order(
        data["order"], data.get("products", []), data.get("shipping_addresses", []), connection=connection
    )


def _fmt(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def describe_rules(outcome: RuleOutcome, out: TextIO) -> None:
    if not outcome.trace:
        print("Rules: none configured", file=out)
        return
    print("Rules:", file=out)
    for t in outcome.trace:
        if t.matched:
            decided = ", ".join(f"{k}={v}" for k, v in t.applied.items())
            if t.lines:
                decided = f"lines {', '.join(t.lines)}"
            verdict = "APPLIED" if (t.applied or t.lines) else "matched (nothing left to set)"
            print(f"  [{t.index}] {t.name!r}: {verdict}{' -> ' + decided if decided else ''} ({t.reason})", file=out)
        else:
            print(f"  [{t.index}] {t.name!r}: not applied: {t.reason}", file=out)
    h = outcome.header
    print(
        f"  order-level result: warehouse={h.warehouse_id} location={h.location_id} "
        f"department={h.department_id} class={h.class_id} customer={h.customer_id}",
        file=out,
    )


def describe_invoice(txn: SalesTransaction, order: Order, out: TextIO) -> bool:
    """Print the invoice; True when Intacct's total equals the channel's to the cent."""
    number = txn.document_no or "(Intacct numbering)"
    due = txn.term_name or (txn.date_due.isoformat() if txn.date_due else "")
    print(f"Invoice: {txn.transaction_type} {number}, customer {txn.customer_id}", file=out)
    print(f"  date {txn.date_created.isoformat()}, due {due}, reference {txn.reference_no}, {txn.currency}", file=out)
    if txn.message:
        print(f"  message {txn.message!r}", file=out)
    header = ("#", "item", "qty", "unit", "price", "amount", "warehouse", "location", "department", "class", "memo")
    rows = [header]
    for i, line in enumerate(txn.lines, start=1):
        amount = (line.quantity * (line.price or Decimal(0))).quantize(Decimal("0.01"))
        rows.append(
            (
                str(i),
                line.item_id,
                _fmt(line.quantity),
                line.unit or "",
                _fmt(line.price),
                _fmt(amount),
                line.warehouse_id or "",
                line.location_id or "",
                line.department_id or "",
                line.class_id or "",
                line.memo or "",
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(header) - 1)]
    for r in rows:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1], file=out)
    for st in txn.subtotals:
        print(f"  subtotal {st.description}: {_fmt(st.total)}", file=out)
    total = intacct_total(txn)
    ok = total == order.total
    print(
        f"  total as Intacct computes it: {_fmt(total)}  channel total: {_fmt(order.total)}  "
        + ("OK" if ok else "DIFFERENT"),
        file=out,
    )
    return ok


def run(settings: Settings, order: Order, out: TextIO) -> int:
    ship = order.shipping_address or order.billing_address
    where = f"{ship.country_code or '?'}/{ship.region or '?'}" if ship else "no address"
    print(
        f"Order {order.order_number} ({order.channel}, connection {order.connection_id}): "
        f"{order.currency} {_fmt(order.total)}, ships to {where}, tags {list(order.tags)}",
        file=out,
    )
    outcome = evaluate(order, settings.rules)
    describe_rules(outcome, out)
    if outcome.header.customer_id:
        customer_id = outcome.header.customer_id
        print(f"Customer: {customer_id} (set by a rule)", file=out)
    else:
        key = match_key(order, settings)
        customer_id = customer_id_for(key, settings)
        if key.fixed_id:
            print(f"Customer: {customer_id} (fixed, {key.mode})", file=out)
        else:
            print(
                f"Customer: match {key.mode} {key.name!r}; found in Intacct by that field, "
                f"else created as {customer_id}",
                file=out,
            )
    describe_parties(document_contacts(order, settings), out)
    txn = invoice_for(order, settings, customer_id=customer_id, outcome=outcome)
    return 0 if describe_invoice(txn, order, out) else 1


def describe_parties(found: OrderContacts, out: TextIO) -> None:
    """Bill-to and ship-to as the invoice names them (the contact, created if new)."""
    for label, contact in (("Bill to", found.bill_to), ("Ship to", found.ship_to)):
        if contact is None:
            print(f"{label}: the customer's own contact (the order has no address)", file=out)
            continue
        a = contact.address
        place = ", ".join(p for p in (a.line1, a.line2, a.city, a.state, a.zip, a.country_code) if p) if a else ""
        bits = [b for b in (contact.company_name, place, contact.phone, contact.email) if b]
        print(f"{label}: {contact.print_as}" + (f", {', '.join(bits)}" if bits else ""), file=out)
        print(f"  contact {contact.contact_name!r}", file=out)


@command
def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = argparse.ArgumentParser(
        prog="intacct-sync rules",
        description=__doc__.split("\n")[0],
        parents=[common_options()],
        epilog="exit status: 0 done, 1 totals differ, 2 bad settings or arguments, 3 unreadable order, "
        "4 the order cannot be posted (the reason and the fix are printed)",
    )
    parser.add_argument("--settings", required=True, type=Path, help="settings JSON file")
    parser.add_argument("--order", required=True, type=Path, help="the channel's order JSON")
    parser.add_argument("--channel", required=True, choices=CHANNELS)
    parser.add_argument("--connection", default=None, help="connection id (rules with a connection condition)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings_file(args.settings)
    except ConfigurationError as exc:
        print(Failure(exc.message, exc.fix).line(), file=err)
        return 2
    connection = Connection.model_validate(
        {"id": args.connection or f"dry-run-{args.channel}", "channel": args.channel, "store": "dry-run"}
    )
    try:
        data = json.loads(args.order.read_bytes())
        order = parse_order(data, args.channel, connection)
    except (OSError, ValueError, InvalidPayload) as exc:
        print(Failure(f"cannot read the {args.channel} order in {args.order}: {exc}").line(), file=err)
        return 3
    try:
        return run(settings, order, out)
    except PermanentError as exc:
        print(Failure(exc.message, exc.fix).line(), file=err)
        return 4


if __name__ == "__main__":
    raise SystemExit(main())
