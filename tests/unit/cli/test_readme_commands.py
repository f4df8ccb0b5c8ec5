"""Every `intacct-sync ...` command the README and docs/settings.md show parses as written.

The lines are copied out of the docs' code blocks (continuation lines joined, comments and
`<placeholders>` kept as the operator would type them after filling them in), then given to the
real command's argument parser. Parsing stops there: nothing runs, nothing reaches AWS.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from intacct_sync.cli import main as cli

ROOT = Path(__file__).resolve().parents[3]
DOCS = [ROOT / "README.md", ROOT / "docs" / "settings.md", ROOT / "local" / "channel_sandbox" / "README.md"]


class Parsed(BaseException):
    """Raised by the command's own parser once it accepted the arguments (a BaseException: the
    commands' error wrapper must not turn it into an error line)."""


def readme_commands() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for doc in DOCS:
        in_block = False
        pending = ""
        for raw in doc.read_text().splitlines():
            if raw.lstrip().startswith("```"):
                in_block = not in_block
                continue
            if not in_block:
                continue
            line = pending + raw.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            start = re.search(r"(?:^|[\s(])intacct-sync\s", line)
            if start is None or line.startswith("#"):
                continue
            command = line[start.end() - len("intacct-sync ") :]
            command = re.split(r"\s+#\s", command)[0]  # a trailing comment
            # [--optional arg] is typed as shown; [--a x | --b y] as its first choice
            command = re.sub(r"\[([^\[\]|]*)(?:\|[^\[\]]*)?\]", r"\1", command)
            command = re.split(r"\s*(?:\||&&|;|>)\s*", command)[0]  # what the shell pipes it into
            if command.split()[1:2] in (["--help"], ["--version"], []):
                continue
            found.append((f"{doc.name}: {command}", command))
    return found


COMMANDS = readme_commands()


def test_the_docs_show_the_commands_an_operator_runs() -> None:
    shown = {c.split()[1] for _, c in COMMANDS}
    assert {"ops", "doctor", "webhooks", "stock", "rules"} <= shown, shown


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_documented_command_parses(where: str, command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: object = None, namespace: object = None) -> object:
        parsed = original(self, args, namespace)  # type: ignore[arg-type]
        if self.prog != cli.PROG:  # the top level only picks the command; the command's parser decides
            raise Parsed
        return parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    argv = [a.replace("<", "").replace(">", "") for a in shlex.split(command)[1:]]
    try:
        cli.main(argv)
    except Parsed:
        return
    except SystemExit as exc:
        pytest.fail(f"{where}: the parser refused it (exit {exc.code})")
    pytest.fail(f"{where}: the command ran past its parser without parsing arguments")
