"""Checks a deployment's configuration against Intacct and the channels before the first order.

    intacct-sync doctor --stack NAME
    intacct-sync doctor --intacct-file creds.json [--settings-file settings.json] \
        [--connection-file shop.json ...]

Each check prints `ok`, `FAIL` (with its fix), `warn` (works now, but needs attention) or `skip`
(could not be checked, and why). Exit 0 when nothing failed, 1 otherwise. Intacct reads go out
batched (several `query` functions per request); the doctor never writes to Intacct or to a
channel. For a Shopify connection it also checks the Admin API version against Shopify's support
window (each quarterly version is supported for 12 months from its release) and, for an app made
in the Dev Dashboard, that its client credentials are exchanged for a token.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.errors import ChannelAuthError, ChannelRequestError, ChannelTransientError
from intacct_sync.channels.api.shopify import (
    DEFAULT_API_VERSION,
    REQUIRED_SCOPES,
    SCOPES_STEP,
    ShopifyClient,
    api_version_support,
    recommended_api_version,
)
from intacct_sync.cli.main import EnvironmentStack, aws_clients, command, common_options
from intacct_sync.connections import SecretsManagerConnections, parse_connection, secret_string
from intacct_sync.errors import ConfigurationError, SyncError
from intacct_sync.intacct import IntacctClient, IntacctConfigurationError, IntacctCredentials, SessionCache
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct.errors import GUIDE, PERMISSION_LOCATIONS
from intacct_sync.intacct.query import in_
from intacct_sync.intacct.wire import Function, Result
from intacct_sync.models.connection import Connection
from intacct_sync.pause import Pause, PauseStore
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, load_settings

Status = Literal["ok", "FAIL", "warn", "skip"]

BATCH = 50
"""Functions per Intacct request (the gateway accepts up to 100)."""
IN_CHUNK = 100
"""Values per `in` filter."""

# Objects the product reads, and the key field a probe selects.
READ_OBJECTS: dict[str, str] = {
    "CUSTOMER": "CUSTOMERID",
    "ARINVOICE": "RECORDNO",
    "ARPYMT": "RECORDNO",
    "ITEM": "ITEMID",
    "WAREHOUSE": "WAREHOUSEID",
    "LOCATION": "LOCATIONID",
    "DEPARTMENT": "DEPARTMENTID",
    "CLASS": "CLASSID",
}
WHAT = {
    "CUSTOMER": ("customer", "Accounts Receivable > Customers"),
    "ITEM": ("item", "Inventory Control > Items"),
    "WAREHOUSE": ("warehouse", "Inventory Control > Warehouses"),
    "LOCATION": ("location", "Company > Locations"),
    "DEPARTMENT": ("department", "Company > Departments"),
    "CLASS": ("class", "Company > Classes"),
}
# Payment money sources: object, key field, what it is, where it lives.
ACCOUNT_OBJECTS = {
    "bank": (("CHECKINGACCOUNT", "SAVINGSACCOUNT"), "BANKACCOUNTID", "bank account", "Cash Management > Accounts"),
    "undeposited": (("GLACCOUNT",), "ACCOUNTNO", "GL account", "General Ledger > Chart of accounts"),
}
WRITES_NOT_PROBED = (
    "Add on Accounts Receivable > Customers; Add on Company > Contacts; Add on Accounts Receivable > "
    "Received Payments; Add, Edit and Delete on each transaction definition named below"
)


# --- report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str = ""
    fix: str | None = None


@dataclass
class Report:
    out: TextIO
    checks: list[Check] = field(default_factory=list)

    def add(self, status: Status, name: str, detail: str = "", fix: str | None = None) -> Check:
        check = Check(status, name, detail, fix)
        self.checks.append(check)
        line = f"{status:<4}  {name}" + (f": {detail}" if detail else "")
        print(line, file=self.out)
        if fix and status != "ok":
            print(f"      fix: {fix}", file=self.out)
        return check

    def error(self, name: str, exc: SyncError, prefix: str = "") -> Check:
        return self.add("FAIL", name, prefix + exc.message, exc.fix)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "FAIL"]

    def summary(self) -> str:
        count = {s: sum(c.status == s for c in self.checks) for s in ("ok", "FAIL", "warn", "skip")}
        warned = f", {count['warn']} warning(s)" if count["warn"] else ""
        return (
            f"{len(self.checks)} checks: {count['ok']} ok, {count['FAIL']} failed{warned}, {count['skip']} not checked"
        )


# --- inputs ----------------------------------------------------------------------------------


@dataclass
class Inputs:
    """The raw configuration: each part is text to parse, or a ConfigurationError saying why not."""

    intacct: str | ConfigurationError
    settings: str | ConfigurationError | None  # None: the built-in defaults
    connections: list[tuple[str, Callable[[], Connection | None]]]
    connections_source: str | None  # where connections come from; None: none given
    pauses: list[tuple[Pause, int]] | ConfigurationError | None = None
    """Paused connections with their held events (issue 14); None: no state table given."""


def _read(path: str, what: str) -> str | ConfigurationError:
    try:
        return Path(path).read_text()
    except OSError as exc:
        return ConfigurationError(f"cannot read {what} file {path!r}: {exc.strerror}", fix="Check the path.")


def _file_connection(path: str) -> tuple[str, Callable[[], Connection | None]]:
    def load() -> Connection:
        raw = _read(path, "connection")
        if isinstance(raw, ConfigurationError):
            raise raw
        try:
            cid = json.loads(raw).get("id")
        except (json.JSONDecodeError, AttributeError):
            cid = None
        return parse_connection(cid if isinstance(cid, str) else Path(path).stem, raw, source=f"file {path!r}")

    return Path(path).name, load


def _stack_inputs(stack: str, clients: dict[str, Any]) -> Inputs:
    import boto3  # noqa: PLC0415

    cfn = clients.get("cloudformation") or boto3.client("cloudformation")
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described}
    secrets = clients.get("secretsmanager") or boto3.client("secretsmanager")

    intacct: str | ConfigurationError
    arn = outputs.get("IntacctCredentialsSecret")
    if not arn:
        intacct = ConfigurationError(
            f"stack {stack!r} has no IntacctCredentialsSecret output", fix="Deploy the current template."
        )
    else:
        try:
            intacct = secret_string(
                secrets.get_secret_value(SecretId=arn), arn, what="Intacct credentials", readme="Intacct setup"
            )
        except ConfigurationError as exc:
            intacct = exc
        except Exception as exc:  # any AWS failure is reported, not raised
            intacct = ConfigurationError(
                f"cannot read the Intacct secret {arn} ({type(exc).__name__})",
                fix="Store the credentials JSON in that secret (README 'Intacct setup'), and run the doctor "
                "with AWS credentials that may read it.",
            )

    settings: str | ConfigurationError | None = None
    parameter = outputs.get("SettingsParameter")
    if parameter:
        try:
            ssm = clients.get("ssm") or boto3.client("ssm")
            settings = str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        except Exception as exc:
            settings = ConfigurationError(
                f"cannot read the settings parameter {parameter} ({type(exc).__name__})",
                fix="Put the settings JSON in that SSM parameter (docs/settings.md).",
            )

    connections: list[tuple[str, Callable[[], Connection | None]]] = []
    prefix = outputs.get("ConnectionSecretPrefix")
    if prefix:
        store = SecretsManagerConnections(prefix, client=secrets, ttl_s=0, miss_ttl_s=0)
        connections = [(cid, lambda cid=cid: store.get(cid)) for cid in store.list_ids()]  # type: ignore[misc]
    pauses: list[tuple[Pause, int]] | ConfigurationError | None = None
    table = outputs.get("StateTableName")
    if table:
        try:
            pause_store = PauseStore(table, client=clients.get("dynamodb") or boto3.client("dynamodb"))
            pauses = [(p, pause_store.count_held(p.connection_id)) for p in pause_store.list_pauses()]
        except Exception as exc:  # any AWS failure is reported, not raised
            pauses = ConfigurationError(
                f"cannot read the pause state in table {table} ({type(exc).__name__})",
                fix="Run the doctor with AWS credentials that may read the state table.",
            )
    return Inputs(intacct, settings, connections, f"secrets named {prefix}<id>" if prefix else None, pauses)


def _file_inputs(args: argparse.Namespace) -> Inputs:
    return Inputs(
        intacct=_read(args.intacct_file, "Intacct credentials"),
        settings=_read(args.settings_file, "settings") if args.settings_file else None,
        connections=[_file_connection(p) for p in args.connection_file],
        connections_source="--connection-file" if args.connection_file else None,
    )


# --- what the settings name ------------------------------------------------------------------


def _add(wanted: dict[str, dict[str, list[str]]], obj: str, value: str | None, where: str) -> None:
    if value:
        wanted.setdefault(obj, {}).setdefault(value, []).append(where)


def referenced_ids(settings: Settings) -> dict[str, dict[str, list[str]]]:
    """Object -> id -> the setting paths that name it."""
    wanted: dict[str, dict[str, list[str]]] = {}
    sections = [("items", settings.items)] + [
        (f"items.overrides[{k!r}]", o) for k, o in settings.items.overrides.items()
    ]
    for path, sec in sections:
        for key in ("shipping_item_id", "discount_item_id", "adjustment_item_id", "fee_item_id", "fallback_item_id"):
            _add(wanted, "ITEM", getattr(sec, key), f"{path}.{key}")
        for sku, item in sec.sku_map.items():
            _add(wanted, "ITEM", item, f"{path}.sku_map[{sku!r}]")
        for i, pat in enumerate(sec.sku_patterns):
            _add(wanted, "ITEM", pat.item_id, f"{path}.sku_patterns[{i}]")
    for i, rule in enumerate(settings.rules):
        where = f"rules[{i}] {rule.name!r}.set"
        _add(wanted, "WAREHOUSE", rule.set.warehouse_id, f"{where}.warehouse_id")
        _add(wanted, "LOCATION", rule.set.location_id, f"{where}.location_id")
        _add(wanted, "DEPARTMENT", rule.set.department_id, f"{where}.department_id")
        _add(wanted, "CLASS", rule.set.class_id, f"{where}.class_id")
        _add(wanted, "ITEM", rule.set.item_id, f"{where}.item_id")
        _add(wanted, "CUSTOMER", rule.set.customer_id, f"{where}.customer_id")
    for cid, conn in settings.stock.connections.items():
        for warehouse in conn.locations:
            _add(wanted, "WAREHOUSE", warehouse, f"stock.connections[{cid!r}].locations")
    if isinstance(settings.stock.skus, tuple):
        for item in settings.stock.skus:
            _add(wanted, "ITEM", item, "stock.skus")
    _add(wanted, "CUSTOMER", settings.customer.single_customer_id, "customer.single_customer_id")
    _add(wanted, "CUSTOMER", settings.customer.guest_customer_id, "customer.guest_customer_id")
    return wanted


def referenced_accounts(settings: Settings) -> dict[str, dict[str, list[str]]]:
    """'bank' / 'undeposited' -> account id -> the payment setting paths that name it."""
    out: dict[str, dict[str, list[str]]] = {}
    methods = [("payments.default", settings.payments.default)] + [
        (f"payments.gateways[{k!r}]", m) for k, m in settings.payments.gateways.items()
    ]
    for path, m in methods:
        _add(out, "bank", m.bank_account_id, f"{path}.bank_account_id")
        _add(out, "undeposited", m.undeposited_account, f"{path}.undeposited_account")
    po = settings.payouts
    if po.enabled:  # payouts (issue 14): the bank account deposited into and the GL accounts booked to
        _add(out, "bank", po.bank_account_id, "payouts.bank_account_id")
        for name in ("undeposited_account", "fee_account", "refund_account", "chargeback_account"):
            _add(out, "undeposited", getattr(po, name), f"payouts.{name}")
        _add(out, "undeposited", po.adjustment_account, "payouts.adjustment_account")
        if po.fees == "journal_entry":
            _add(out, "undeposited", po.bank_gl_account, "payouts.bank_gl_account")
    return out


def transaction_definitions(settings: Settings) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    out.setdefault(settings.invoice.transaction_definition, []).append("invoice.transaction_definition")
    out.setdefault(settings.credit_memo.transaction_definition, []).append("credit_memo.transaction_definition")
    return out


# --- Intacct ---------------------------------------------------------------------------------


def _chunks(values: Sequence[str], size: int) -> list[list[str]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


@dataclass
class Probe:
    """One read in the batch; `result` is filled in after the round trip."""

    function: Function
    result: Result | None = None
    error: SyncError | None = None  # the typed error of a failed result

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    def found(self, key: str) -> set[str]:
        return {r.get(key, "") for r in self.result.records()} if self.result is not None and self.ok else set()

    def text(self) -> str:
        errors = self.result.errors if self.result is not None else ()
        return " ".join(f"{e.errorno} {e.text}" for e in errors).lower()

    @property
    def denied(self) -> bool:
        return isinstance(self.error, IntacctConfigurationError)

    @property
    def unknown_object(self) -> bool:
        return "object definition" in self.text() and "not found" in self.text()


def _run(client: IntacctClient, probes: Sequence[Probe], deadline: Deadline) -> None:
    for batch in _chunks_p(probes, BATCH):
        results = client.execute([p.function for p in batch], deadline=deadline)
        for probe, result in zip(batch, results, strict=True):
            probe.result = result
            try:
                client.raise_for(result)
            except SyncError as exc:
                probe.error = exc


def _chunks_p(probes: Sequence[Probe], size: int) -> list[Sequence[Probe]]:
    return [probes[i : i + size] for i in range(0, len(probes), size)]


def _uses(paths: Iterable[str]) -> str:
    paths = list(paths)
    return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def check_intacct(report: Report, client: IntacctClient, settings: Settings | None, deadline: Deadline) -> None:
    c = client.credentials
    try:
        client.session(deadline)
    except SyncError as exc:
        report.error("Intacct sign-in (sender credentials, sender authorisation, user, entity)", exc)
        return
    report.add(
        "ok",
        "Intacct sign-in",
        f"sender {c.sender_id} authorised, user {c.user_id} in company {c.company_id}"
        + (f", entity {c.entity_id}" if c.entity_id else " (top level)"),
    )
    if settings is None:
        return

    wanted = referenced_ids(settings)
    definitions = transaction_definitions(settings)
    accounts = referenced_accounts(settings)

    # One probe per object (filtered to the ids the settings name, so it proves both the read
    # permission and that they exist), one per transaction definition, and the account objects.
    by_object: dict[str, list[Probe]] = {}
    for obj, key in READ_OBJECTS.items():
        ids = sorted(wanted.get(obj, {}))
        if ids:
            by_object[obj] = [
                Probe(fn.query(obj, [key], filter=in_(key, chunk), page_size=len(chunk)))
                for chunk in _chunks(ids, IN_CHUNK)
            ]
        else:
            by_object[obj] = [Probe(fn.query(obj, [key], page_size=1))]
    per_definition = {t: Probe(fn.query("SODOCUMENT", ["DOCID"], docparid=t, page_size=1)) for t in definitions}
    params = Probe(fn.query("SODOCUMENTPARAMS", ["DOCID"], filter=in_("DOCID", list(definitions)), page_size=100))
    account_probes: dict[str, list[tuple[str, Probe]]] = {}
    for kind, ids_paths in accounts.items():
        objects, key, _, _ = ACCOUNT_OBJECTS[kind]
        account_probes[kind] = [
            (obj, Probe(fn.query(obj, [key], filter=in_(key, sorted(ids_paths)), page_size=100))) for obj in objects
        ]
    probes = [p for ps in by_object.values() for p in ps] + list(per_definition.values()) + [params]
    probes += [p for ps in account_probes.values() for _, p in ps]
    try:
        _run(client, probes, deadline)
    except SyncError as exc:
        report.error("Intacct reads", exc)
        return

    check_permissions(report, by_object, per_definition)

    # (4) transaction definitions
    check_definitions(report, definitions, per_definition, params)

    check_existence(report, wanted, by_object)

    # (7) payment accounts
    check_accounts(report, accounts, account_probes)


def check_permissions(report: Report, by_object: dict[str, list[Probe]], per_definition: dict[str, Probe]) -> None:
    # (3) role permissions
    for obj, ps in by_object.items():
        where = PERMISSION_LOCATIONS.get(obj.lower(), obj)
        denied = next((p for p in ps if p.denied), None)
        if denied is not None and denied.error is not None:
            report.add("FAIL", f"permission: List on {where} ({obj})", _error_text(denied), denied.error.fix)
        elif all(p.ok for p in ps):
            report.add("ok", f"permission: List on {where} ({obj})")
        else:
            bad = next(p for p in ps if not p.ok)
            report.add("FAIL", f"permission: List on {where} ({obj})", _error_text(bad))
    for name, p in per_definition.items():
        label = f"permission: List on Order Entry > {name} (SODOCUMENT)"
        if p.denied and p.error is not None:
            fix = (p.error.fix or "").replace(
                "the transaction definition (e.g. Sales Invoice)", f"the '{name}' transaction definition"
            )
            report.add("FAIL", label, _error_text(p), fix)
        elif p.ok:
            report.add("ok", label)
        else:
            report.add("skip", label, "not checked: the transaction definition could not be read (see below)")
    report.add(
        "skip",
        "write permissions",
        f"not probed ({WRITES_NOT_PROBED}): Intacct has no read-only way to test a write permission. The first "
        "order proves them; a gap parks it with its fix",
    )


def check_existence(report: Report, wanted: dict[str, dict[str, list[str]]], by_object: dict[str, list[Probe]]) -> None:
    # (5, 6) items, warehouses, locations, departments, classes, customers
    for obj in ("ITEM", "WAREHOUSE", "LOCATION", "DEPARTMENT", "CLASS", "CUSTOMER"):
        named = wanted.get(obj, {})
        if not named:
            continue
        what, where = WHAT[obj]
        plural = "classes" if what == "class" else f"{what}s"
        ps = by_object[obj]
        if not all(p.ok for p in ps):
            report.add("skip", f"{plural} named in the settings", "not checked: the read failed (see above)")
            continue
        found = set().union(*(p.found(READ_OBJECTS[obj]) for p in ps))
        missing = [i for i in named if i not in found]
        for i in missing:
            report.add(
                "FAIL",
                f"{what} '{i}'",
                f"does not exist in Intacct (named by {_uses(named[i])})",
                f"Create {what} '{i}' in {where}, or change {_uses(named[i])} in the settings to an existing ID "
                "(IDs are case-sensitive).",
            )
        present = sorted(i for i in named if i in found)
        if present:
            report.add("ok", f"{plural} exist", ", ".join(present))


def _error_text(p: Probe) -> str:
    """Intacct's own words (error number and description), without the request's control id."""
    errors = p.result.errors if p.result is not None else ()
    if errors:
        return "; ".join(f"{e.errorno}: {e.description}" if e.description else e.errorno for e in errors)
    return p.error.message if p.error is not None else "no answer"


def check_definitions(
    report: Report, definitions: dict[str, list[str]], per_definition: dict[str, Probe], params: Probe
) -> None:
    fix_tpl = (
        "Set {paths} to the exact name of an Order Entry transaction definition (Order Entry > Setup > "
        "Transaction definitions), or create '{name}' there."
    )
    if params.ok:
        found = params.found("DOCID")
        for name, paths in definitions.items():
            if name in found:
                report.add("ok", f"transaction definition '{name}'", f"exists ({_uses(paths)})")
            else:
                report.add(
                    "FAIL",
                    f"transaction definition '{name}'",
                    f"does not exist (named by {_uses(paths)})",
                    fix_tpl.format(paths=_uses(paths), name=name),
                )
        return
    # SODOCUMENTPARAMS unreadable (not served, or no permission on Transaction definitions): a
    # query of SODOCUMENT with the definition as docparid fails for an unknown definition.
    why = "this endpoint does not serve SODOCUMENTPARAMS" if params.unknown_object else _error_text(params)
    report.add("skip", "transaction definitions via SODOCUMENTPARAMS", f"{why}; checked with docparid queries instead")
    for name, paths in definitions.items():
        p = per_definition[name]
        if p.ok:
            report.add("ok", f"transaction definition '{name}'", f"exists ({_uses(paths)})")
        elif p.denied:
            report.add("skip", f"transaction definition '{name}'", "not checked: no permission (see above)")
        else:
            report.add(
                "FAIL",
                f"transaction definition '{name}'",
                f"{_error_text(p)} (named by {_uses(paths)})",
                fix_tpl.format(paths=_uses(paths), name=name),
            )


def check_accounts(
    report: Report, accounts: dict[str, dict[str, list[str]]], probes: dict[str, list[tuple[str, Probe]]]
) -> None:
    for kind, ids in accounts.items():
        _, key, what, where = ACCOUNT_OBJECTS[kind]
        answered = [p for _, p in probes[kind] if p.ok]
        if not answered:
            reasons = []
            for obj, p in probes[kind]:
                if p.unknown_object:
                    reasons.append(f"this endpoint does not serve {obj}")
                elif p.denied:
                    reasons.append(f"the role may not list {obj} (the sync itself does not need it)")
                else:
                    reasons.append(f"{obj}: {_error_text(p)}")
            report.add("skip", f"payment {what}s {', '.join(sorted(ids))}", "not checked: " + "; ".join(reasons))
            continue
        found = set().union(*(p.found(key) for p in answered))
        for i, paths in ids.items():
            if i in found:
                report.add("ok", f"payment {what} '{i}'", f"exists ({_uses(paths)})")
            else:
                report.add(
                    "FAIL",
                    f"payment {what} '{i}'",
                    f"does not exist (named by {_uses(paths)})",
                    f"Use the ID of an existing account ({where}) in {_uses(paths)}.",
                )


# --- channels --------------------------------------------------------------------------------


def check_numbering(report: Report, settings: Settings, connection_ids: Sequence[str]) -> None:
    """Two stores whose documents would get the same numbers: the second store's colliding order
    is parked at posting (never adopted); say so before the first collision."""
    for what, numbering in (("invoice", settings.invoice.numbering), ("credit_memo", settings.credit_memo.numbering)):
        if numbering.mode != "order_number" or len(connection_ids) < 2:
            continue
        by_prefix: dict[str, list[str]] = {}
        for cid in connection_ids:
            by_prefix.setdefault(numbering.prefix_for(cid), []).append(cid)
        shared = {prefix: ids for prefix, ids in by_prefix.items() if len(ids) > 1}
        if shared:
            groups = "; ".join(f"{', '.join(sorted(ids))} use prefix '{p}'" for p, ids in sorted(shared.items()))
            report.add(
                "warn",
                f"{what} numbers per store",
                f"{groups}: two of their orders with the same number cannot both be posted",
                f"Set {what}.numbering.prefix_by_connection so each store has its own prefix (e.g. "
                f'{{"{sorted(next(iter(shared.values())))[1]}": "B-"}}).',
            )
        else:
            report.add("ok", f"{what} numbers per store", "each store has its own prefix")


def check_refund_payouts(report: Report, settings: Settings) -> None:
    """Refunds credited without their payout leave each customer a credit balance for money
    already returned (and cash overstated): say so while it is off."""
    if settings.refunds.payout == "none":
        report.add(
            "warn",
            "refunds paid out",
            "not recorded (refunds.payout is none): each refund leaves the customer a credit balance",
            'Set "refunds": {"payout": "debit_memo", "payout_account": "<GL account the money leaves>"} and grant '
            "Accounts Receivable > Adjustments (List, View, Add) to the Web Services role (README 'Refunds paid out').",
        )
    else:
        report.add("ok", "refunds paid out", f"debit memos on account {settings.refunds.payout_account}")


def check_shopify_api_version(report: Report, connection: Connection, today: date) -> None:
    """Warn when the connection's Admin API version is outside Shopify's support window: Shopify
    then serves the oldest supported version instead (or does not know a future one)."""
    version = connection.api_version or DEFAULT_API_VERSION
    origin = "set in the secret" if connection.api_version else "the default"
    name = f"connection {connection.id} api_version"
    support = api_version_support(version, today)
    target = recommended_api_version(today)
    fix = f"Set 'api_version' in the connection secret '{connection.id}' to \"{target}\""
    fix += (
        " (Shopify's release notes list what changed)."
        if connection.api_version
        else " (this release's default has aged out: update the product too)."
    )
    if support.status == "supported":
        report.add("ok", name, f"{version} ({origin}), supported until at least {support.supported_until.isoformat()}")
    elif support.status == "unsupported":
        report.add(
            "warn",
            name,
            f"{version} ({origin}) is out of Shopify's support window since {support.supported_until.isoformat()} "
            "(12 months after its release): Shopify answers with the oldest supported version instead",
            fix,
        )
    else:
        report.add(
            "warn",
            name,
            f"{version} ({origin}) is not released yet (today is {today.isoformat()}): Shopify does not know it",
            fix,
        )


def check_shopify_token(report: Report, name: str, client: ShopifyClient, deadline: Deadline) -> bool:
    """For a Dev Dashboard app: exchange the client credentials for a token now. False when refused
    (reported with the fix; the API checks that follow would only repeat it)."""
    check = f"{name} token exchange"
    try:
        token = client.obtain_token(deadline=deadline, fresh=True)
    except SyncError as exc:
        report.add("FAIL", check, exc.message, exc.fix)
        return False
    if token is None:
        return True
    granted = token.scopes | {"read_" + s.removeprefix("write_") for s in token.scopes if s.startswith("write_")}
    hours = token.expires_in / 3600
    report.add("ok", check, f"Admin API token obtained (valid {hours:.0f} h); scopes {', '.join(sorted(token.scopes))}")
    missing = [f"{s} ({what})" for s, what in REQUIRED_SCOPES.items() if s not in granted]
    if missing:
        report.add("warn", f"{name} scopes", f"the app lacks {'; '.join(missing)}", f"{SCOPES_STEP}.")
    return True


def check_connection(
    report: Report,
    label: str,
    load: Callable[[], Connection | None],
    deadline: Deadline,
    today: date | None = None,
) -> Connection | None:
    name = f"connection {label}"
    try:
        connection = load()
    except SyncError as exc:
        report.error(name, exc)
        return None
    if connection is None:
        report.add("FAIL", name, "its secret disappeared while the doctor ran", "Run the doctor again.")
        return None
    name = f"connection {connection.id} ({connection.channel} {connection.store})"
    if connection.channel == "shopify":
        check_shopify_api_version(report, connection, today or datetime.now(UTC).date())
    try:
        client = client_for(connection, backoff=Backoff(base_s=0.25, cap_s=2.0, max_attempts=3), read_timeout_s=20)
        if isinstance(client, ShopifyClient) and not check_shopify_token(report, name, client, deadline):
            return connection
        hooks = client.list_webhooks(deadline=deadline)
    except ChannelAuthError as exc:
        report.error(name, exc, "credentials refused: ")
    except ChannelTransientError as exc:
        report.add(
            "FAIL",
            name,
            f"could not reach the channel: {exc.message}",
            exc.fix or "Check the store address in the secret ('store', 'api_base_url') and run the doctor again.",
        )
    except ChannelRequestError as exc:
        report.add(
            "FAIL",
            name,
            exc.message,
            exc.fix or "Check the store address in the connection secret ('store', 'api_base_url').",
        )
    except SyncError as exc:
        report.error(name, exc)
    else:
        report.add("ok", name, f"API credentials accepted ({len(hooks)} webhook subscription(s))")
    if connection.stripe_secret_key is not None:
        check_stripe(report, connection, deadline)
    return connection


def check_stripe(report: Report, connection: Connection, deadline: Deadline) -> None:
    """The connection's Stripe key reads payouts and balance transactions (the payouts job's reads)."""
    from intacct_sync.payouts.stripe import probe  # noqa: PLC0415 - only for stores with a Stripe key

    name = f"connection {connection.id}: Stripe payouts"
    try:
        said = probe(connection, deadline=deadline, backoff=Backoff(base_s=0.25, cap_s=2.0, max_attempts=3))
    except ChannelAuthError as exc:
        report.error(name, exc, "Stripe refused the key: ")
    except SyncError as exc:
        report.add("FAIL", name, exc.message, exc.fix or "Check 'stripe_api_base_url' in the connection secret.")
    else:
        report.add("ok", name, said)


def check_entities(
    report: Report, credentials: IntacctCredentials, connections: Sequence[Connection], deadline: Deadline
) -> None:
    """Each entity a connection names (`intacct_entity_id`): signing in to it works (the entity
    exists and the Web Services user may enter it). One sign-in per entity."""
    by_entity: dict[str, list[str]] = {}
    for c in connections:
        if c.intacct_entity_id:
            by_entity.setdefault(c.intacct_entity_id, []).append(c.id)
    for entity, ids in sorted(by_entity.items()):
        named = f"connections {', '.join(ids)}"
        client = IntacctClient(
            credentials.model_copy(update={"entity_id": entity}),
            sessions=SessionCache(),
            backoff=Backoff(base_s=0.25, cap_s=2.0, max_attempts=3),
            read_timeout_s=30,
        )
        try:
            client.session(deadline)
        except SyncError as exc:
            report.add(
                "FAIL",
                f"Intacct entity {entity} ({named})",
                exc.message,
                "Set 'intacct_entity_id' in the connection secret(s) to an entity ID as Intacct lists it "
                "(Company > Setup > Entities), or remove it to post where the Intacct secret's entity_id "
                "points; the Web Services user needs access to that entity. " + (exc.fix or ""),
            )
        else:
            report.add("ok", f"Intacct entity {entity}: sign-in works ({named})")


def check_pauses(report: Report, pauses: list[tuple[Pause, int]] | ConfigurationError | None) -> None:
    """A paused connection posts nothing until resumed: a warning, so it is not forgotten."""
    if pauses is None:
        return
    if isinstance(pauses, ConfigurationError):
        report.error("paused connections", pauses)
        return
    if not pauses:
        report.add("ok", "paused connections", "none: every connection posts")
    for p, held in pauses:
        report.add(
            "warn",
            f"connection {p.connection_id} paused",
            f"since {p.since:%Y-%m-%d %H:%M} UTC by {p.by} ({p.reason}); {held} event(s) held"
            + (", resume in progress" if p.state == "resuming" else ""),
            f"After the clean-up: intacct-sync ops resume --connection {p.connection_id} "
            "(README 'Month end: pause a store').",
        )


# --- main ------------------------------------------------------------------------------------


def run(inputs: Inputs, out: TextIO, *, timeout_s: float = 120.0, today: date | None = None) -> Report:
    """`today` (default: the UTC date) dates the Shopify API version check."""
    report = Report(out)
    deadline = Deadline.after(timeout_s)

    # (1) the Intacct secret
    credentials: IntacctCredentials | None = None
    if isinstance(inputs.intacct, ConfigurationError):
        report.error("Intacct credentials secret", inputs.intacct)
    else:
        try:
            credentials = IntacctCredentials.from_secret(inputs.intacct)
        except ConfigurationError as exc:
            report.error("Intacct credentials secret", exc)
        else:
            report.add("ok", "Intacct credentials secret parses", f"endpoint {credentials.endpoint_url}")

    settings: Settings | None = None
    if isinstance(inputs.settings, ConfigurationError):
        report.error("settings", inputs.settings)
    elif inputs.settings is None:
        settings = DEFAULT_SETTINGS
        report.add("ok", "settings", "none configured: the built-in defaults are checked")
    else:
        try:
            settings = load_settings(inputs.settings)
        except ConfigurationError as exc:
            report.error("settings", exc)
        else:
            report.add("ok", "settings parse")

    # (2)-(7) Intacct
    if credentials is not None:
        client = IntacctClient(
            credentials,
            sessions=SessionCache(),
            backoff=Backoff(base_s=0.25, cap_s=2.0, max_attempts=3),
            read_timeout_s=30,
        )
        check_intacct(report, client, settings, deadline)

    # (8) channel connections
    if inputs.connections_source is None:
        report.add("skip", "channel connections", "none given (--connection-file, or --stack)")
    elif not inputs.connections:
        report.add(
            "FAIL",
            "channel connections",
            f"none found ({inputs.connections_source})",
            "Create one secret per store (README 'Channel setup').",
        )
    loaded = [check_connection(report, label, load, deadline, today) for label, load in inputs.connections]
    if settings is not None:
        check_numbering(report, settings, [c.id for c in loaded if c is not None])
        check_refund_payouts(report, settings)
    if credentials is not None:
        check_entities(report, credentials, [c for c in loaded if c is not None], deadline)
    check_pauses(report, inputs.pauses)

    print(report.summary(), file=out)
    return report


@command
def main(
    argv: Sequence[str] | None = None,
    *,
    clients: dict[str, Any] | None = None,
    stdout: TextIO | None = None,
    today: date | None = None,
) -> int:
    parser = argparse.ArgumentParser(
        prog="intacct-sync doctor",
        description=(__doc__ or "").split("\n")[0],
        epilog=f"Fixes refer to the {GUIDE} and docs/settings.md.",
        parents=[common_options(aws=True)],
    )
    parser.add_argument("--stack", help="CloudFormation stack name (reads its secrets and settings)")
    parser.add_argument("--intacct-file", help="Intacct credentials JSON (the secret's content)")
    parser.add_argument("--settings-file", help="settings JSON (default: the built-in defaults)")
    parser.add_argument(
        "--connection-file", action="append", default=[], help="a connection secret's JSON (repeatable)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole run (default 120)")
    args = parser.parse_args(argv)
    clients = aws_clients(
        ("cloudformation", "secretsmanager", "ssm", "dynamodb"), getattr(args, "region", None), clients
    )
    if not args.stack and not args.intacct_file and EnvironmentStack.present():  # the local stack's exports
        args.stack, clients["cloudformation"] = EnvironmentStack.NAME, EnvironmentStack()
    if bool(args.stack) == bool(args.intacct_file):
        parser.error("give either --stack or --intacct-file")
    out = stdout or sys.stdout
    inputs = _stack_inputs(args.stack, clients) if args.stack else _file_inputs(args)
    report = run(inputs, out, timeout_s=args.timeout, today=today)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
