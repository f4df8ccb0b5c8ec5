"""CLI: `python -m local.intacct_sandbox serve ...` and `python -m local.intacct_sandbox show --url ...`."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import urllib.request
from typing import Any

from .server import IntacctSandbox


def _serve(args: argparse.Namespace) -> int:
    sb = IntacctSandbox.start(
        seed=args.seed,
        latency_ms=args.latency_ms,
        max_concurrency=args.max_concurrency,
        db_path=args.db,
        session_timeout_s=args.session_timeout_s,
        port=args.port,
        host=args.host,
    )
    seed = sb.seed
    print(f"Intacct sandbox listening on {sb.url}")
    print(f"  session endpoint : {sb.session_url}")
    print(f"  admin            : {sb.base_url}/_sandbox/state (also requests, reset, faults, config, hold, clock)")
    for s in seed.get("senders", []):
        print(f"  sender           : {s['sender_id']} / {s['password']}")
    for c in seed.get("companies", []):
        for u in c.get("users", []):
            print(f"  company/user     : {c['company_id']} / {u['user_id']} / {u['password']}")
    if args.db:
        print(f"  state file       : {args.db}")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping")
    finally:
        sb.stop()
    return 0


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - local dev tool, http(s) URL from the user
        return json.loads(resp.read())


def _show(args: argparse.Namespace) -> int:
    base = args.url.rstrip("/")
    for suffix in ("/na1/ia/xml/xmlgw.phtml", "/ia/xml/xmlgw.phtml"):
        base = base.removesuffix(suffix)
    if not base.startswith(("http://", "https://")):
        print("--url must be an http(s) URL", file=sys.stderr)
        return 2
    state = _get(base + "/_sandbox/state")
    requests = _get(base + "/_sandbox/requests")
    for cid, c in state.get("companies", {}).items():
        print(f"== company {cid}")
        print(f"-- customers ({len(c['customers'])})")
        for cu in c["customers"]:
            email = (cu.get("DISPLAYCONTACT") or {}).get("EMAIL1") or ""
            print(f"   {cu['RECORDNO']:>5}  {cu['CUSTOMERID']:<16} {cu['NAME']:<30} {cu['STATUS']:<8} {email}")
        print(f"-- documents ({len(c['documents'])})")
        for d in c["documents"]:
            print(
                f"   {d['RECORDNO']:>5}  {d['DOCID']:<28} {d['CUSTVENDID']:<14} {d['WHENCREATED']}  "
                f"{d['STATE']:<8} total {d['TOTAL']:>10} {d.get('CURRENCY') or ''}  "
                f"AR {d.get('PRRECORDKEY') or '-'}"
            )
        print(f"-- AR invoices ({len(c['arinvoices'])})")
        for a in c["arinvoices"]:
            print(
                f"   {a['RECORDNO']:>5}  {a['RECORDID']:<14} {a['CUSTOMERID']:<14} "
                f"entered {a['TOTALENTERED']:>10}  paid {a['TOTALPAID']:>10}  "
                f"due {a['TOTALDUE']:>10}  {a['STATE']}"
            )
        print(f"-- payments ({len(c['payments'])})")
        for p in c["payments"]:
            applied = ", ".join(f"{x['RECORDKEY']}:{x['TRX_PAYMENTAMOUNT']}" for x in p.get("DETAILS", []))
            print(
                f"   {p['RECORDNO']:>5}  {p.get('DOCNUMBER') or '':<14} {p['CUSTOMERID']:<14} "
                f"{p['TOTALENTERED']:>10} {p['CURRENCY']} {p['PAYMENTMETHOD']:<14} {p['RECEIPTDATE']}  "
                f"applied {applied}"
            )
        print("-- on hand (item / warehouse: onhand, onhold, onorder)")
        for o in c["onhand"]:
            qty = f"{o['ONHAND']:>8} {o['ONHOLD']:>8} {o['ONORDER']:>8}"
            print(f"   {o['ITEMID']:<12} {o['WAREHOUSEID']:<10} {qty}")
    print(f"== requests received: {len(requests)}")
    for r in requests[-args.last :] if args.last else []:
        fns = ", ".join(f"{f['name']}[{f['controlid']}]={f['status']}" for f in r["functions"])
        print(f"   HTTP {r['http_status']} {r['path']} auth={r['auth']} fault={r['fault'] or '-'} {fns}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local.intacct_sandbox", description=__doc__)
    subs = p.add_subparsers(dest="cmd", required=True)
    s = subs.add_parser("serve", help="run the sandbox until Ctrl-C")
    s.add_argument("--port", type=int, default=8089)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--seed", default=None, help="seed JSON file (default: the bundled seed.json)")
    s.add_argument("--db", default=None, help="SQLite file to keep state across restarts (seeded once)")
    s.add_argument("--latency-ms", type=int, default=0)
    s.add_argument("--max-concurrency", type=int, default=None)
    s.add_argument("--session-timeout-s", type=float, default=3600)
    s.set_defaults(func=_serve)
    sh = subs.add_parser("show", help="print what a running sandbox holds")
    sh.add_argument("--url", default="http://127.0.0.1:8089")
    sh.add_argument("--last", type=int, default=10, help="how many recent requests to list")
    sh.set_defaults(func=_show)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
