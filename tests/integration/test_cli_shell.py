"""`intacct-sync` as an operator runs it: the installed console script, from another directory,
with no PYTHONPATH; its errors as one line; and the commands `make local` prints, run against the
local stack after a signed webhook went in."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from intacct_sync.settings import DEFAULT_SETTINGS
from local.channel_sandbox import ChannelSandbox
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from local.stack import LocalStack
from tests.fixtures.channels import sign

SCRIPT = Path(sys.executable).parent / "intacct-sync"
SHOP = "demo.myshopify.com"
COMMANDS = ["ops", "doctor", "rules", "webhooks", "stock"]


def shell_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A login shell's environment: no PYTHONPATH, no AWS configuration, no instance metadata."""
    return {
        "PATH": f"{SCRIPT.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        args, cwd=tmp_path, env=shell_env(tmp_path, **extra), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(autouse=True)
def _installed() -> None:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: `make venv` (or pip install -e . --no-deps) installs it")


def test_help_from_any_directory_without_pythonpath(tmp_path: Path) -> None:
    done = run(["intacct-sync", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert f"\n  {name} " in done.stdout
    version = run(["intacct-sync", "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("intacct-sync 0.")


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_help(name: str, tmp_path: Path) -> None:
    done = run(["intacct-sync", name, "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: intacct-sync {name}")


def test_python_dash_m_works_too(tmp_path: Path) -> None:
    done = run([sys.executable, "-m", "intacct_sync.cli.ops", "status", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--order NUMBER" in done.stdout and "--order-id ID" in done.stdout


def test_no_region_is_one_line_with_the_fix(tmp_path: Path) -> None:
    done = run(["intacct-sync", "ops", "--stack", "intacct-sync", "parked"], tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: no AWS region is set; fix: set AWS_REGION (or AWS_DEFAULT_REGION) or pass --region\n"


def test_no_credentials_is_one_line_with_the_fix(tmp_path: Path) -> None:
    done = run(["intacct-sync", "ops", "--stack", "intacct-sync", "--region", "eu-west-1", "parked"], tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("error: no AWS credentials; fix: set AWS_PROFILE or run aws configure / aws sso login\n")
    debug = run(["intacct-sync", "--debug", "ops", "--stack", "s", "--region", "eu-west-1", "parked"], tmp_path)
    assert "Traceback" in debug.stderr and debug.stderr.endswith("aws sso login\n")


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    """A command waiting on AWS (a loopback port that never answers) is interrupted."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections queue up; nothing is ever read or answered
        port = silent.getsockname()[1]
        env = shell_env(
            tmp_path,
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_REGION="eu-west-1",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )
        # As from a terminal: Ctrl-C not ignored. A runner that starts the suite in the background
        # without job control (`cmd &` in a script) ignores SIGINT, and a child inherits an ignored
        # signal; a handled one is reset to the default at exec, which is what this arranges.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            proc = subprocess.Popen(
                ["intacct-sync", "ops", "--table", "t", "parked"],  # noqa: S607 - found on PATH, as in a shell
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        finally:
            signal.signal(signal.SIGINT, previous)
        # Its whole request arriving on the silent port shows it is imported, inside the command,
        # and waiting for the answer: interrupt it then. Not a fixed sleep (it could fire during the
        # import on a busy machine), nor the bare connect (the signal would land while the client
        # is still busy in Python, where an interrupt may surface in a finaliser and be ignored).
        silent.settimeout(60)  # a guard only
        waiting, _ = silent.accept()
        with waiting:
            waiting.settimeout(60)  # a guard only
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = waiting.recv(65536)
                assert chunk, "the command closed its connection without a request"
                request += chunk
            head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length:
                chunk = waiting.recv(65536)
                assert chunk, "the command closed its connection mid-request"
                body += chunk
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted" and "Traceback" not in err


# --- against the local stack -------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> Iterator[tuple[LocalStack, ChannelSandbox, str]]:
    """The local stack as `make local` starts it (LOCAL_STACK_PRINT_CLI_ENV set), and what it printed."""
    with IntacctSandbox.start() as intacct, ChannelSandbox.start() as cs:
        stack = LocalStack(
            intacct_credentials={**sandbox_credentials(), "endpoint_url": intacct.url},
            settings=json.loads(DEFAULT_SETTINGS.model_dump_json()),
            connections=[cs.connection_secret("shopify", SHOP, "shopify-main")],
            time_scale=540,
        )
        printed = io.StringIO()
        os.environ["LOCAL_STACK_PRINT_CLI_ENV"] = "1"
        try:
            with contextlib.redirect_stdout(printed):
                stack.start()
        finally:
            os.environ.pop("LOCAL_STACK_PRINT_CLI_ENV", None)
        try:
            yield stack, cs, printed.getvalue()
        finally:
            stack.stop()
            os.environ.pop("LOCAL_STACK_PRINT_CLI_ENV", None)  # stop() restores the environment start() saw


def deliver_shopify_order(stack: LocalStack, cs: ChannelSandbox, order_id: int, number: int) -> None:
    order = json.loads(json.dumps(cs.orders("shopify", SHOP)[0]))
    order.pop("refunds", None)
    order.update({"id": order_id, "order_number": number, "name": f"#{number}"})
    raw = json.dumps(order).encode()
    secret = cs.credentials("shopify", SHOP)["client_secret"]
    headers = sign.shopify_headers(raw, "orders/create", secret=secret, event_id=f"evt-{order_id}", shop=SHOP)
    answer = requests.post(f"{stack.api_url}/webhooks/shopify-main", data=raw, headers=headers, timeout=10)
    assert answer.status_code == 202
    assert stack.wait_idle(timeout_s=60)


def read_block(printed: str) -> tuple[dict[str, str], list[list[str]]]:
    """The exports and the commands of the printed block, as a shell reads them."""
    env: dict[str, str] = {}
    commands: list[list[str]] = []
    for line in printed.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            env.update(w.partition("=")[::2] for w in words[1:])
        elif words[:1] == ["intacct-sync"]:
            commands.append(words)
    return env, commands


def test_make_local_prints_what_points_the_clis_at_it(
    local: tuple[LocalStack, ChannelSandbox, str], tmp_path: Path
) -> None:
    stack, cs, printed = local
    env, commands = read_block(printed)
    assert env["AWS_ENDPOINT_URL"] == stack.moto_url and env["STATE_TABLE"] == stack.physical["StateTable"]
    assert env["ORDERS_DLQ_URL"] == stack.physical["OrdersDeadLetterQueue"]
    assert env["INTACCT_SECRET_ARN"] == stack.physical["IntacctCredentials"]
    names = [" ".join(c[:3]) for c in commands]
    assert names == [
        "intacct-sync ops parked",
        "intacct-sync ops status",
        "intacct-sync ops replay",
        "intacct-sync doctor",
    ]
    status = commands[1]
    assert status[3:] == ["--connection", "shopify-main", "--order", "#1001"]

    # Before the order's webhook: not found, with the hint; after it: found by its name.
    before = run(status, tmp_path, **env)
    assert before.returncode == 1 and "ops parked" in before.stdout, before.stderr
    deliver_shopify_order(stack, cs, 5820000001001, 1001)
    after = run(status, tmp_path, **env)
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith("order 1001 (shopify, connection shopify-main, id 5820000001001)")

    parked = run(commands[0], tmp_path, **env)
    assert parked.returncode == 0 and "0 parked order(s)" in parked.stdout, parked.stderr
    replay = run(commands[2], tmp_path, **env)
    assert replay.returncode == 0 and "0 message(s) to move" in replay.stdout, replay.stderr
    doctor = run(commands[3], tmp_path, **env)  # the stack's secrets and settings, from the environment
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "ok    Intacct sign-in" in doctor.stdout and "connection shopify-main (shopify" in doctor.stdout
