"""`intacct-sync`: the operator's command line, and what every command shares.

    intacct-sync ops status --stack NAME --connection shopify-main --order '#1001'
    intacct-sync doctor --stack NAME
    intacct-sync --help | --version

Each command is a module of this package with a `main(argv)` wrapped by `command`, so
`intacct-sync X ...` and `python -m intacct_sync.cli.X ...` behave the same: an AWS, file or
configuration error prints one line with its fix and exits 2 (1 stays "ran and found problems",
e.g. doctor's failed checks), Ctrl-C exits 130, and `--debug` (or INTACCT_SYNC_DEBUG=1) prints the
traceback as well. The commands are imported only when run, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

PROG = "intacct-sync"

COMMANDS: dict[str, str] = {
    "ops": "an order's sync state, the parked list, replay; month end: backfill, resync, pause/resume a store",
    "doctor": "check a deployment's Intacct, settings and store connections before the first order",
    "rules": "dry run of the rules and field map for one channel order (no AWS, no Intacct)",
    "webhooks": "register or list a store's webhook subscriptions",
    "stock": "run the stock push once for one connection, printing the changes",
}

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

# The stack's resources as template.yaml hands them to the functions; the CLIs take them from the
# environment too (the local stack prints them), after their own options and `--stack`.
ENVIRONMENT_OUTPUTS: dict[str, str] = {
    "STATE_TABLE": "StateTableName",
    "ORDERS_QUEUE_URL": "OrdersQueueUrl",
    "ORDERS_DLQ_URL": "OrdersDeadLetterQueueUrl",
    "PAYMENTS_QUEUE_URL": "PaymentsQueueUrl",
    "PAYMENTS_DLQ_URL": "PaymentsDeadLetterQueueUrl",
    "INTACCT_SECRET_ARN": "IntacctCredentialsSecret",
    "SETTINGS_PARAMETER": "SettingsParameter",
    "CONNECTION_SECRET_PREFIX": "ConnectionSecretPrefix",
    "CLAIM_CHECK_BUCKET": "ClaimCheckBucketName",
}


# --- what the command was pointed at (named in its error lines) ------------------------------

_targets: dict[str, str] = {}
_force_debug = False


def note(**targets: str | None) -> None:
    """Remember what the running command reads (stack, table, secret, parameter, queue, region),
    so an AWS error can name it."""
    _targets.update({k: v for k, v in targets.items() if v})


# --- one line per failure ---------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    message: str
    fix: str | None = None

    def line(self) -> str:
        text = " ".join(self.message.split()).rstrip(".")
        if self.fix:
            text += "; fix: " + " ".join(self.fix.split())
        return "error: " + text


_OPERATION_SERVICE = {
    "DescribeStacks": "cloudformation",
    "ListStacks": "cloudformation",
    "GetSecretValue": "secretsmanager",
    "ListSecrets": "secretsmanager",
    "DescribeSecret": "secretsmanager",
    "GetParameter": "ssm",
    "GetParameters": "ssm",
    "ReceiveMessage": "sqs",
    "SendMessage": "sqs",
    "DeleteMessage": "sqs",
    "GetQueueAttributes": "sqs",
    "GetQueueUrl": "sqs",
    "BatchGetItem": "dynamodb",
    "BatchWriteItem": "dynamodb",
    "GetItem": "dynamodb",
    "PutItem": "dynamodb",
    "UpdateItem": "dynamodb",
    "DeleteItem": "dynamodb",
    "Query": "dynamodb",
    "Scan": "dynamodb",
    "DescribeTable": "dynamodb",
}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "AuthorizationErrorException",
}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_BAD_KEYS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AuthFailure",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
}
_NOT_FOUND = {
    "ResourceNotFoundException",
    "ParameterNotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NoSuchBucket",
}
CREDENTIALS_FIX = "set AWS_PROFILE or run aws configure / aws sso login"


def region() -> str | None:
    """The region the command's AWS clients use (its --region, else the environment or profile)."""
    if _targets.get("region"):
        return _targets["region"]
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import boto3  # noqa: PLC0415

        found: str | None = boto3.session.Session().region_name
    except Exception:  # a broken profile: the error at hand says more
        return None
    return found


def _in_region() -> str:
    r = region()
    return f" in region {r}" if r else ""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, then what it was raised from or during (also under `from None`)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _is_botocore(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("botocore", "boto3"))


def _not_found(service: str, operation: str, code: str, message: str) -> Failure:
    where = _in_region()
    if service == "dynamodb":
        table = _targets.get("table")
        what = f"the state table '{table}'" if table else "the state table"
        return Failure(
            f"{what} does not exist{where} (DynamoDB {operation}: {code})",
            "check --table / STATE_TABLE (the stack's StateTableName output), --stack and --region",
        )
    if service == "secretsmanager":
        secret = _targets.get("secret")
        what = f"the secret '{secret}'" if secret else "the secret"
        return Failure(
            f"{what} does not exist{where} (Secrets Manager {operation}: {code})",
            "check the secret name (--secret-id: the stack's connection prefix + the connection id), --stack and "
            "--region",
        )
    if service == "ssm":
        parameter = _targets.get("parameter")
        what = f"the settings parameter '{parameter}'" if parameter else "the SSM parameter"
        return Failure(
            f"{what} does not exist{where} ({operation}: {code})",
            "check the stack's SettingsParameter output (--stack) and --region",
        )
    if service == "sqs":
        queue = _targets.get("queue")
        what = f"the queue {queue}" if queue else "the queue"
        return Failure(
            f"{what} does not exist{where} (SQS {operation}: {code})",
            "check --queue-url / --dlq-url (the stack's queue outputs), --stack and --region",
        )
    return Failure(f"AWS says {code}{where}: {message}", "check the names given (--stack, --region)")


def _client_error(exc: Any) -> Failure:
    error = exc.response.get("Error", {}) if isinstance(getattr(exc, "response", None), dict) else {}
    code = str(error.get("Code") or "error")
    message = str(error.get("Message") or "")
    operation = str(getattr(exc, "operation_name", "") or "call")
    service = _OPERATION_SERVICE.get(operation, "aws")
    action = f"{service}:{operation}"
    if service == "cloudformation" and code == "ValidationError" and "does not exist" in message:
        m = re.search(r"Stack with id (\S+) does not exist", message)
        stack = m.group(1) if m else _targets.get("stack", "?")
        return Failure(
            f"CloudFormation stack '{stack}' does not exist{_in_region()}",
            "check --stack (the stack name given to sam deploy; aws cloudformation list-stacks shows them) and "
            "--region (or AWS_REGION)",
        )
    if code in _NOT_FOUND:
        return _not_found(service, operation, code, message)
    if code.startswith("KMS."):  # the queues are encrypted with the stack's key
        return Failure(
            f"AWS refused {action}: the KMS key that encrypts it said {code}",
            "grant kms:Decrypt (and kms:GenerateDataKey to send) on the stack's DataKey to the identity you run as",
        )
    if code in _DENIED or code.startswith("AccessDenied"):
        resource = next((_targets[k] for k in ("table", "secret", "parameter", "queue", "stack") if k in _targets), "")
        on = f" on {resource}" if resource else ""
        return Failure(
            f"AWS denied {action}{on} to your identity ({code})",
            f"grant {action} to the role or user you run as (README 'Operations'), or use a profile that has it",
        )
    if code in _EXPIRED:
        return Failure(f"your AWS session has expired ({code})", "run aws sso login, or refresh the credentials")
    if code in _BAD_KEYS:
        return Failure(f"AWS did not accept your credentials ({code})", CREDENTIALS_FIX)
    if code in _THROTTLED:
        return Failure(f"AWS throttled {action} ({code})", "wait a moment and run the command again")
    return Failure(
        f"AWS {action} failed{_in_region()}: {code}" + (f": {message}" if message else ""),
        "run again with --debug for the details",
    )


def _botocore(exc: BaseException) -> Failure | None:
    from botocore import exceptions as be  # noqa: PLC0415

    if isinstance(exc, be.ClientError):
        return _client_error(exc)
    if isinstance(exc, be.NoRegionError):
        return Failure("no AWS region is set", "set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region")
    if isinstance(exc, be.PartialCredentialsError):
        return Failure(f"incomplete AWS credentials ({exc})", CREDENTIALS_FIX)
    if isinstance(exc, be.ProfileNotFound):
        return Failure(f"{exc}", "set AWS_PROFILE to a profile in ~/.aws/config (aws configure list-profiles)")
    names = ("SSOTokenLoadError", "UnauthorizedSSOTokenError", "TokenRetrievalError", "SSOError")
    sso = tuple(t for t in (getattr(be, n, None) for n in names) if isinstance(t, type))
    if sso and isinstance(exc, sso):
        return Failure("your AWS SSO session has expired or was never started", "run aws sso login")
    if isinstance(exc, be.NoCredentialsError | be.CredentialRetrievalError):
        return Failure("no AWS credentials", CREDENTIALS_FIX)
    if isinstance(exc, be.EndpointConnectionError | be.ConnectTimeoutError | be.ConnectionClosedError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        fix = "check the network or proxy and --region"
        fix += f"; AWS_ENDPOINT_URL is {endpoint}: is that stack running?" if endpoint else ""
        return Failure(f"cannot reach AWS{' at ' + url if url else ''}{_in_region()}", fix)
    if isinstance(exc, be.ReadTimeoutError):
        return Failure("AWS did not answer in time", "run the command again")
    if isinstance(exc, be.ParamValidationError):
        return Failure(f"a value given to AWS is invalid: {exc}", "check the names and URLs given on the command line")
    return None


def explain(exc: BaseException) -> Failure:
    """The one-line account of a failure: what happened and how to fix it."""
    from intacct_sync.errors import SyncError, TransientError  # noqa: PLC0415

    chain = _chain(exc)
    if isinstance(exc, SyncError) and exc.fix:
        return Failure(exc.message, exc.fix)
    for cause in chain:
        if _is_botocore(cause):
            found = _botocore(cause)
            if found is not None:
                return found
    if isinstance(exc, TransientError):
        return Failure(exc.message, "it may pass: run the command again (--debug shows the details)")
    if isinstance(exc, SyncError):
        return Failure(exc.message)
    for cause in chain:
        if isinstance(cause, json.JSONDecodeError):
            return Failure(
                f"invalid JSON at line {cause.lineno} column {cause.colno}: {cause.msg}",
                "check the JSON file given on the command line",
            )
        if isinstance(cause, OSError) and cause.filename is not None:
            return Failure(
                f"cannot read {cause.filename}: {cause.strerror or cause}", "check the path given on the command line"
            )
        if isinstance(cause, UnicodeDecodeError):
            return Failure(f"a file is not UTF-8 text ({cause.reason})", "save it as UTF-8 JSON")
    return Failure(f"unexpected {type(exc).__name__}: {exc}", "run again with --debug for the traceback, and report it")


def _debugging(argv: Sequence[str]) -> bool:
    return _force_debug or "--debug" in argv or os.environ.get("INTACCT_SYNC_DEBUG", "") not in ("", "0")


def command(func: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's `main(argv, **options)`: errors become one line with the fix (exit 2),
    Ctrl-C exits 130, `--debug` adds the traceback. The error goes to the `stderr`/`err` stream
    the caller passed (tests), else sys.stderr."""

    @functools.wraps(func)
    def run(argv: Sequence[str] | None = None, **options: Any) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        _targets.clear()
        try:
            return func(args, **options)
        except KeyboardInterrupt:
            print("\ninterrupted", file=_stderr(options))
            return EXIT_INTERRUPTED
        except Exception as exc:
            err = _stderr(options)
            if _debugging(args):
                traceback.print_exception(exc, file=err)
            print(explain(exc).line(), file=err)
            return EXIT_ERROR

    return run


def _stderr(options: dict[str, Any]) -> TextIO:
    stream = options.get("stderr") or options.get("err")
    return stream if stream is not None else sys.stderr


# --- shared options and clients ---------------------------------------------------------------


def common_options(*, aws: bool = False, progress: bool = False) -> argparse.ArgumentParser:
    """Options every command takes, as a parent parser. Their defaults are suppressed so that
    the same options can sit on a command and its subcommands (`ops --region X status` and
    `ops status --region X`); read them with `getattr(args, name, None)`."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="print the traceback of an error too"
    )
    if aws:
        parent.add_argument(
            "--region", default=argparse.SUPPRESS, help="AWS region (default: AWS_REGION or the profile's)"
        )
    if progress:
        parent.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help="progress on stderr (default: when stderr is a terminal)",
        )
    return parent


def aws_client(service: str, region_name: str | None = None) -> Any:
    """A boto3 client in --region, else AWS_REGION (as the AWS CLI reads it; boto3 alone reads
    only AWS_DEFAULT_REGION), else boto3's own choice. AWS_ENDPOINT_URL applies."""
    import boto3  # noqa: PLC0415 - deferred: `--help` needs no boto3

    region_name = region_name or os.environ.get("AWS_REGION") or None
    if region_name:
        note(region=region_name)
        return boto3.client(service, region_name=region_name)
    return boto3.client(service)


def aws_clients(services: Sequence[str], region_name: str | None, given: dict[str, Any] | None) -> dict[str, Any]:
    """`given` (tests) plus, with --region, a client in that region for each other service."""
    clients = dict(given or {})
    if region_name:
        for service in services:
            if service not in clients:
                clients[service] = aws_client(service, region_name)
    return clients


class EnvironmentStack:
    """Stands in for CloudFormation when the environment names the resources (the local stack,
    which has no CloudFormation, prints them): `describe_stacks` answers with those outputs."""

    NAME = "(the environment's STATE_TABLE, INTACCT_SECRET_ARN, ...)"

    @staticmethod
    def present() -> bool:
        return "IntacctCredentialsSecret" in environment_outputs()

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # boto3 names it so
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in environment_outputs().items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


def stack_outputs(stack: str, cfn: Any) -> dict[str, str]:
    note(stack=stack)
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in described}


def environment_outputs() -> dict[str, str]:
    """The stack outputs the environment gives (STATE_TABLE, ORDERS_DLQ_URL, ...)."""
    return {output: os.environ[name] for name, output in ENVIRONMENT_OUTPUTS.items() if os.environ.get(name)}


# --- progress ---------------------------------------------------------------------------------


class Progress:
    """`label: 12/37` (or a running count) on stderr, for long loops. On a terminal the line is
    rewritten in place; otherwise (forced with --progress) one line at most every `every_s`."""

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        every_s: float | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        self.enabled = self.tty if enabled is None else enabled
        self.label, self.total, self.count = label, total, 0
        self.every_s = every_s if every_s is not None else (0.1 if self.tty else 1.0)
        self._shown_at: float | None = None
        self._shown_text: str | None = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, count: int, total: int | None = None) -> None:
        self.count = count
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.enabled and (self._shown_at is None or now - self._shown_at >= self.every_s):
            self._show()
            self._shown_at = now

    def advance(self, n: int = 1) -> None:
        self.update(self.count + n)

    def text(self) -> str:
        return f"{self.label}: {self.count}" + (f"/{self.total}" if self.total is not None else "")

    def _show(self) -> None:
        text = self.text()
        self.stream.write(f"\r\033[K{text}" if self.tty else f"{text}\n")
        self.stream.flush()
        self._shown_text = text

    def close(self) -> None:
        """Show the final figure (and end the line on a terminal); nothing when disabled."""
        if not self.enabled:
            return
        if self._shown_text != self.text():
            self._show()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self.enabled = False


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_enabled(args: argparse.Namespace) -> bool | None:
    """--progress / --no-progress, else None: the Progress decides (stderr a terminal)."""
    value = getattr(args, "progress", None)
    return None if value is None else bool(value)


# --- the `intacct-sync` command ---------------------------------------------------------------


def version() -> str:
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415
    from importlib.metadata import version as installed  # noqa: PLC0415

    try:
        return installed("intacct-sync")
    except PackageNotFoundError:
        return "(run from the source tree: pip install -e . installs it)"


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<10} {summary}" for name, summary in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [--debug] [--version] COMMAND [options]",
        description="Channel -> Sage Intacct sync: the operator's commands.",
        epilog=f"commands:\n{listing}\n\n`{PROG} COMMAND --help` shows a command's options. Errors print one line "
        "with the fix and exit 2 (1: the command ran and found problems; 130: interrupted); --debug adds the "
        "traceback.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error too")
    parser.add_argument("command", metavar="COMMAND", choices=sorted(COMMANDS), help="one of: " + ", ".join(COMMANDS))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`intacct-sync [--debug] COMMAND ...`: the options before COMMAND are this command's, the
    rest go to the command's own `main`."""
    global _force_debug  # noqa: PLW0603 - one process, one command line
    args = list(sys.argv[1:] if argv is None else argv)
    split = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
    parser = _parser()
    ours = parser.parse_args(args[: split + 1])  # exits for --help, --version and a bad COMMAND
    _force_debug = ours.debug
    module = importlib.import_module(f"intacct_sync.cli.{ours.command}")
    code: int = module.main(args[split + 1 :])
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
