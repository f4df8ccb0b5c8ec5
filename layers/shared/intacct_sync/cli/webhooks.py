"""Register and list a store's webhook subscriptions through the channel's API.

    intacct-sync webhooks register --connection-file shop.json \\
        --url https://<api>/webhooks/<connection id> [--dry-run] [--topic T ...]
    intacct-sync webhooks list --connection-file shop.json
    intacct-sync webhooks list --secret-id <prefix><connection id> [--region R]   # deployed

The connection JSON holds the same keys as the connection secret (README 'Channel setup').
`register` is idempotent: it creates what is missing, re-activates what the channel disabled,
leaves what is right, and reports other subscriptions on the same URL (it never deletes).
Exit status: 0 done, 1 the channel or the configuration refused (the fix is printed), 2 usage
or another error (one line with the fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from intacct_sync.channels.api import DEFAULT_WEBHOOK_TOPICS, EnsureResult, WebhookSubscription, client_for
from intacct_sync.cli.main import aws_client, command, common_options, explain, note
from intacct_sync.connections import parse_connection, secret_string
from intacct_sync.errors import ConfigurationError, SyncError
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline


def _parser() -> argparse.ArgumentParser:
    common = common_options(aws=True)
    parser = argparse.ArgumentParser(
        prog="intacct-sync webhooks",
        description="Register or list a store's webhook subscriptions.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("register", "subscribe the order topics to a URL (idempotent)"),
        ("list", "list the store's webhook subscriptions"),
    ):
        cmd = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        source = cmd.add_mutually_exclusive_group(required=True)
        source.add_argument("--connection-file", type=Path, help="connection JSON (the secret's keys)")
        source.add_argument("--secret-id", help="Secrets Manager secret holding the connection (see --region)")
        cmd.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole command")
        if name == "register":
            cmd.add_argument("--url", required=True, help="the stack's https://.../webhooks/<connection id>")
            cmd.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
            cmd.add_argument(
                "--topic",
                action="append",
                dest="topics",
                help="a topic/scope to subscribe (repeatable); default: the channel's order topics",
            )
    return parser


def load_connection(args: argparse.Namespace, *, secrets_client: Any = None) -> Connection:
    """The connection from --connection-file or --secret-id; ConfigurationError if unusable."""
    if args.connection_file is not None:
        path: Path = args.connection_file
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read the connection file '{path}' ({exc.strerror}).",
                fix="Pass --connection-file with the path of a JSON file holding the connection secret's keys.",
            ) from None
        return parse_connection(_connection_id(raw, default=path.stem), raw, source=f"Connection file '{path}'")
    name: str = args.secret_id
    note(secret=name)
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        if secrets_client is None:  # only the deployed variant needs boto3
            secrets_client = aws_client("secretsmanager", getattr(args, "region", None))
        answer = secrets_client.get_secret_value(SecretId=name)
        raw = secret_string(answer, name)
    except (ClientError, BotoCoreError) as exc:
        failure = explain(exc)  # names the secret, the region, the missing permission or credentials
        raise ConfigurationError(f"cannot read the connection secret: {failure.message}", fix=failure.fix) from None
    # As the deployed functions do: the id is the last part of the secret's *name* (an ARN given
    # here ends in Secrets Manager's random suffix), and an `id` inside that differs is refused,
    # so the URL registered is one the stack serves.
    secret_name = str(answer.get("Name") or name)
    return parse_connection(secret_name.rsplit("/", 1)[-1], raw, source=f"Secret '{secret_name}'")


def _connection_id(raw: str, *, default: str) -> str:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return default
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else default


def _line(label: str, sub: WebhookSubscription) -> str:
    state = "" if sub.active else f"  [{sub.status or 'inactive'}]"
    if sub.auth_header_ok is False:
        state += "  [auth header missing or different]"
    return f"  {label:<9} {sub.topic:<28} id={sub.id or '-':<12} {sub.address}{state}"


def print_result(result: EnsureResult, out: TextIO) -> None:
    verb = "would create" if result.dry_run else "created"
    fixed = "would fix" if result.dry_run else "fixed"
    for sub in result.existing:
        print(_line("exists", sub), file=out)
    for sub in result.created:
        print(_line(verb, sub), file=out)
    for sub in result.repaired:
        print(_line(fixed, sub), file=out)
    for sub in result.extra:
        print(_line("extra", sub), file=out)
    summary = (
        f"{len(result.existing)} existing, {len(result.created)} {verb}, "
        f"{len(result.repaired)} {fixed}, {len(result.extra)} extra"
    )
    print(summary + (" (dry run: nothing changed)" if result.dry_run else ""), file=out)
    if result.extra:
        print(
            "Extra subscriptions deliver to this URL but are not needed (another topic, or a duplicate); "
            "they are harmless. Delete them in the channel's admin if unwanted.",
            file=out,
        )


@command
def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    secrets_client: Any = None,
    **client_options: Any,
) -> int:
    """Run the command; returns the exit status. `client_options` go to `client_for` (tests)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    try:
        connection = load_connection(args, secrets_client=secrets_client)
        client = client_for(connection, **client_options)
        deadline = Deadline.after(args.timeout)
        print(f"connection {connection.id} ({connection.channel}, store {connection.store})", file=out)
        if args.command == "list":
            subs = client.list_webhooks(deadline=deadline)
            for sub in subs:
                print(_line("exists", sub), file=out)
            print(f"{len(subs)} subscription(s)", file=out)
            return 0
        url: str = args.url.strip()
        if not url.rstrip("/").endswith(f"/webhooks/{connection.id}"):
            print(
                f"warning: the URL does not end with /webhooks/{connection.id}; the stack routes "
                "deliveries by the connection id in the path.",
                file=err,
            )
        topics = args.topics or list(DEFAULT_WEBHOOK_TOPICS[connection.channel])
        secret = connection.webhook_secret.get_secret_value() if connection.webhook_secret else None
        print(f"url {url}", file=out)
        result = client.ensure_webhooks(url, topics, secret=secret, deadline=deadline, dry_run=args.dry_run)
    except SyncError as exc:
        print(explain(exc).line(), file=err)
        return 1
    print_result(result, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
