"""`intacct-sync`: the dispatcher, and every failure as one line with its fix (exit 2), never a
traceback unless --debug. Real botocore errors: from moto, from botocore's Stubber, from a closed
port on the loopback, or from a boto3 that finds no region or credentials."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from intacct_sync.cli import main as cli
from intacct_sync.cli import ops, rules, stock, webhooks
from intacct_sync.dynamo import TableUnavailable
from intacct_sync.errors import ConfigurationError
from tests.aws import Stack

SUBCOMMANDS = ["ops", "doctor", "rules", "webhooks", "stock"]


def one_error_line(err: str) -> str:
    """The error output is exactly one line, `error: ...; fix: ...`, and no traceback."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "; fix: " in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def no_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell with no AWS region, profile or credentials (and no instance metadata to ask)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "STATE_TABLE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # boto3's default session caches the credentials an earlier test (moto) resolved
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


# --- the dispatcher ---------------------------------------------------------------------------


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        [line] = [x for x in out.splitlines() if x.startswith(f"  {name} ")]
        assert len(line.split()) > 3, line
    assert "--debug" in out and "--version" in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    assert f"usage: intacct-sync {name}" in capsys.readouterr().out


@pytest.mark.parametrize("sub", ["status", "parked", "replay"])
def test_ops_subcommands_have_help_and_take_the_shared_options(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["ops", sub, "--help"])
    out = capsys.readouterr().out
    assert "--region" in out and "--stack" in out and "--debug" in out and "--progress" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("intacct-sync ")


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["opps", "status"])
    assert info.value.code == 2
    assert "invalid choice: 'opps'" in capsys.readouterr().err


def test_dispatch_passes_the_rest_to_the_command(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ops", "--table", aws.table, "parked"]) == 0
    assert "0 parked order(s)" in capsys.readouterr().out


def test_the_shared_options_go_before_or_after_the_subcommand(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ops", "parked", "--table", aws.table, "--region", "eu-west-1"]) == 0
    assert cli.main(["ops", "--region", "eu-west-1", "--table", aws.table, "parked"]) == 0


# --- AWS errors, from the real services' answers ----------------------------------------------


def test_a_stack_that_does_not_exist_is_named_with_the_fix(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ops", "--stack", "intacct-sync-prod", "parked"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "CloudFormation stack 'intacct-sync-prod' does not exist in region eu-west-1" in line
    assert "--stack" in line and "--region" in line


def test_a_table_that_does_not_exist_is_named_with_the_fix(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code = ops.main(["--table", "no-such-table", "status", "--connection", "c", "--order", "1001"])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "the state table 'no-such-table' does not exist in region eu-west-1" in line
    assert "STATE_TABLE" in line


def test_a_secret_that_does_not_exist_is_named_with_the_fix(aws: Stack) -> None:
    err = io.StringIO()
    code = webhooks.main(
        ["list", "--secret-id", "intacct-sync/prod/connections/nope"], stdout=io.StringIO(), stderr=err
    )
    assert code == 1  # the webhooks command's "configuration refused"
    line = one_error_line(err.getvalue())
    assert "the secret 'intacct-sync/prod/connections/nope' does not exist" in line and "--secret-id" in line


def test_a_queue_that_does_not_exist_is_named(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    gone = aws.orders_dlq_url.replace("orders-dlq", "gone")
    args = ["replay", "--queue", "orders", "--dlq-url", gone, "--queue-url", aws.orders_url]
    assert ops.main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"the queue {gone} does not exist" in line and "--dlq-url" in line


def test_no_region(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ops", "--stack", "s", "parked"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "no AWS region" in line and "set AWS_REGION" in line and "--region" in line


def test_no_credentials(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ops", "--region", "eu-west-1", "--stack", "s", "parked"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "no AWS credentials" in line and "AWS_PROFILE" in line and "aws sso login" in line


def test_partial_credentials(no_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    assert cli.main(["ops", "--region", "eu-west-1", "--table", "t", "parked"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "incomplete AWS credentials" in line and "AWS_SECRET_ACCESS_KEY" in line


def test_aws_region_is_read_as_the_aws_cli_reads_it(
    no_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert cli.main(["ops", "--stack", "s", "parked"]) == 2
    assert "no AWS credentials" in one_error_line(capsys.readouterr().err)  # got past the region


def test_an_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    assert cli.main(["ops", "--table", "t", "parked"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot reach AWS at http://127.0.0.1:{port}" in line and "AWS_ENDPOINT_URL" in line


def stubbed(service: str, method: str, code: str, message: str = "") -> Any:
    client = boto3.client(service, region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.add_client_error(method, service_error_code=code, service_message=message or code)
    stubber.activate()
    return client


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDeniedException", "AWS denied dynamodb:BatchGetItem on the-table"),
        ("UnauthorizedOperation", "AWS denied dynamodb:BatchGetItem"),
        ("ExpiredTokenException", "your AWS session has expired"),
        ("UnrecognizedClientException", "AWS did not accept your credentials"),
        ("ProvisionedThroughputExceededException", "AWS throttled dynamodb:BatchGetItem"),
        ("InternalServerError", "AWS dynamodb:BatchGetItem failed in region eu-west-1: InternalServerError"),
    ],
)
def test_client_errors_by_code(code: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = stubbed("dynamodb", "batch_get_item", code)
    args = ["--table", "the-table", "status", "--connection", "c", "--order-id", "1"]
    assert ops.main(args, clients={"dynamodb": client}) == 2
    line = one_error_line(capsys.readouterr().err)
    assert expected in line


def test_access_denied_on_the_stack_names_the_action(capsys: pytest.CaptureFixture[str]) -> None:
    client = stubbed("cloudformation", "describe_stacks", "AccessDenied", "User: x is not authorized")
    assert ops.main(["--stack", "prod", "parked"], clients={"cloudformation": client}) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "cloudformation:DescribeStacks on prod" in line and "grant cloudformation:DescribeStacks" in line


def test_an_expired_token_says_to_log_in_again(capsys: pytest.CaptureFixture[str]) -> None:
    client = stubbed("cloudformation", "describe_stacks", "ExpiredToken")
    assert ops.main(["--stack", "prod", "parked"], clients={"cloudformation": client}) == 2
    assert "aws sso login" in one_error_line(capsys.readouterr().err)


# --- the explanation itself -------------------------------------------------------------------


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_a_product_error_wrapping_a_boto_error_is_explained_by_the_boto_error() -> None:
    cli.note(table="state")
    try:
        try:
            raise client_error("ResourceNotFoundException", "GetItem")
        except ClientError:
            raise TableUnavailable("ledger get_item failed (ResourceNotFoundException)") from None
    except TableUnavailable as exc:
        failure = cli.explain(exc)
    assert "the state table 'state' does not exist" in failure.message


def test_a_product_error_with_a_fix_keeps_it() -> None:
    failure = cli.explain(ConfigurationError("items.sku_map is wrong.", fix="Map SKUs to item ids."))
    assert failure.line() == "error: items.sku_map is wrong; fix: Map SKUs to item ids."


def test_a_missing_file_and_bad_json() -> None:
    try:
        Path("/nonexistent/settings.json").read_text()
    except OSError as exc:
        assert "cannot read /nonexistent/settings.json" in cli.explain(exc).line()
    try:
        json.loads("{oops")
    except ValueError as exc:
        assert "invalid JSON at line 1 column 2" in cli.explain(exc).line()


def test_endpoint_error_names_the_url() -> None:
    failure = cli.explain(EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/"))
    assert "cannot reach AWS at https://dynamodb.eu-west-1.amazonaws.com/" in failure.message


# --- the wrapper --------------------------------------------------------------------------------


@cli.command
def _raises(argv: list[str], *, exc: BaseException, stderr: io.StringIO | None = None) -> int:
    raise exc


def test_ctrl_c_is_one_line_and_exit_130() -> None:
    err = io.StringIO()
    assert _raises([], exc=KeyboardInterrupt(), stderr=err) == 130
    assert err.getvalue().strip() == "interrupted" and "Traceback" not in err.getvalue()


def test_an_unexpected_error_is_one_line_pointing_at_debug() -> None:
    err = io.StringIO()
    assert _raises([], exc=RuntimeError("boom"), stderr=err) == 2
    line = one_error_line(err.getvalue())
    assert "unexpected RuntimeError: boom" in line and "--debug" in line


def test_debug_prints_the_traceback_then_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    assert _raises(["--debug"], exc=RuntimeError("boom"), stderr=err) == 2
    assert "Traceback" in err.getvalue() and err.getvalue().rstrip().splitlines()[-1].startswith("error: unexpected")
    err = io.StringIO()
    monkeypatch.setenv("INTACCT_SYNC_DEBUG", "1")
    assert _raises([], exc=RuntimeError("boom"), stderr=err) == 2
    assert "Traceback" in err.getvalue()


def test_debug_before_the_command_reaches_it(aws: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--debug", "ops", "--stack", "nope", "parked"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: CloudFormation stack 'nope'")
    assert cli.main(["ops", "--stack", "nope", "parked"]) == 2  # and only for that run
    assert "Traceback" not in capsys.readouterr().err


def test_usage_errors_stay_argparse_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        ops.main(["status", "--order-id", "5"])
    assert info.value.code == 2
    assert "--order-id needs --connection" in capsys.readouterr().err


# --- file arguments ---------------------------------------------------------------------------


def test_rules_with_a_missing_settings_file(tmp_path: Path) -> None:
    err = io.StringIO()
    code = rules.main(["--settings", str(tmp_path / "nope.json"), "--order", "o.json", "--channel", "shopify"], err=err)
    assert code == 2
    assert "nope.json" in one_error_line(err.getvalue())


def test_stock_with_a_corrupt_snapshot_file(tmp_path: Path) -> None:
    conn = tmp_path / "c.json"
    conn.write_text(json.dumps({"id": "bc", "channel": "bigcommerce", "store": "abc", "access_token": "t0k3n-abc"}))
    creds = tmp_path / "i.json"
    creds.write_text(
        json.dumps(
            {
                "sender_id": "s",
                "sender_password": "p",
                "company_id": "c",
                "user_id": "u",
                "user_password": "p",
                "endpoint_url": "http://127.0.0.1:9/ia/xml/xmlgw.phtml",
            }
        )
    )
    snap = tmp_path / "snap.json"
    snap.write_text("{not json")
    err = io.StringIO()
    args = ["push", "--connection-file", str(conn), "--intacct-file", str(creds), "--snapshot-file", str(snap)]
    assert stock.main(args, stdout=io.StringIO(), stderr=err) == 1
    line = one_error_line(err.getvalue())
    assert "snap.json" in line and "Delete it" in line


# --- progress -----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_quiet_off_a_terminal_unless_asked() -> None:
    stream = io.StringIO()
    with cli.Progress("moved", total=3, stream=stream) as shown:
        for i in range(3):
            shown.update(i + 1)
    assert stream.getvalue() == ""
    stream = io.StringIO()
    with cli.Progress("moved", total=3, stream=stream, enabled=True, every_s=0) as shown:
        for i in range(3):
            shown.update(i + 1)
    assert stream.getvalue().splitlines() == ["moved: 1/3", "moved: 2/3", "moved: 3/3"]


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    stream = Terminal()
    with cli.Progress("read", stream=stream, every_s=0) as shown:
        shown.advance(5)
        shown.advance(5)
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("read: 10\n") and text.count("\n") == 1


def test_progress_shows_the_last_figure_even_when_throttled() -> None:
    stream = io.StringIO()
    with cli.Progress("moved", stream=stream, enabled=True, every_s=3600) as shown:
        for i in range(50):
            shown.update(i + 1)
    assert stream.getvalue().splitlines() == ["moved: 1", "moved: 50"]


@pytest.fixture
def parked_messages(aws: Stack) -> Iterator[Stack]:
    for i in range(3):
        aws.sqs.send_message(
            QueueUrl=aws.orders_dlq_url,
            MessageBody=json.dumps({"n": i}),
            MessageGroupId=f"c:{i}",
            MessageDeduplicationId=f"d{i}",
            MessageAttributes={"parked_reason": {"DataType": "String", "StringValue": f"reason {i}"}},
        )
    yield aws


def test_replay_progress_with_progress_and_quiet_without(
    parked_messages: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = parked_messages
    args = ["replay", "--queue", "orders", "--dlq-url", aws.orders_dlq_url, "--queue-url", aws.orders_url]
    assert ops.main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().err == ""
    assert ops.main([*args, "--progress"]) == 0
    captured = capsys.readouterr()
    assert "3 message(s) moved back to orders" in captured.out
    assert captured.err.splitlines()[0] == "moved: 0/3" and captured.err.splitlines()[-1] == "moved: 3/3"
