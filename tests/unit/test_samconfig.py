"""samconfig.toml against template.yaml: every parameter override names a template parameter and
passes its constraints, the capabilities are exactly what the template needs, and each environment
deploys its own stack under its own Stage."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from typing import Any

import pytest

from local.stack import load_template
from tests.aws import ROOT

SAMCONFIG = ROOT / "samconfig.toml"
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
ENVIRONMENTS = ("default", "dev")

# IAM resources whose name property makes CloudFormation demand CAPABILITY_NAMED_IAM.
NAMED_IAM = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}
# Resources the SAM transform turns into a nested stack (then CAPABILITY_AUTO_EXPAND is needed).
NESTED = {"AWS::Serverless::Application", "AWS::CloudFormation::Stack"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    with SAMCONFIG.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def overrides(config: dict[str, Any], env: str) -> dict[str, str]:
    """parameter_overrides as SAM CLI reads it: `Key="value" Key2=value2` (string or list)."""
    raw = config[env]["deploy"]["parameters"]["parameter_overrides"]
    items = raw if isinstance(raw, list) else [raw]
    out: dict[str, str] = {}
    for item in items:
        for token in shlex.split(item):
            key, sep, value = token.partition("=")
            assert sep and key, f"[{env}] {token!r} is not Key=Value"
            assert key not in out, f"[{env}] {key} set twice"
            out[key] = value
    return out


def required_capabilities(template: dict[str, Any]) -> set[str]:
    needed: set[str] = set()
    for resource in template["Resources"].values():
        kind, props = resource["Type"], resource.get("Properties") or {}
        if kind.startswith("AWS::IAM::") or (
            kind in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"} and "Role" not in props
        ):
            needed.add("CAPABILITY_IAM")
        if kind in NAMED_IAM and NAMED_IAM[kind] in props:
            needed.add("CAPABILITY_NAMED_IAM")
        if kind in NESTED:
            needed.add("CAPABILITY_AUTO_EXPAND")
    if "CAPABILITY_NAMED_IAM" in needed:
        needed.discard("CAPABILITY_IAM")  # NAMED_IAM covers unnamed IAM resources too
    return needed


def check_value(name: str, spec: dict[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None:
        assert value in [str(v) for v in allowed], f"{name}={value!r} is not one of {allowed}"
    if spec["Type"] == "Number":
        number = float(value)
        if "MinValue" in spec:
            assert number >= float(spec["MinValue"]), f"{name}={value} is below {spec['MinValue']}"
        if "MaxValue" in spec:
            assert number <= float(spec["MaxValue"]), f"{name}={value} is above {spec['MaxValue']}"
    pattern = spec.get("AllowedPattern")
    if pattern is not None:  # CloudFormation matches the whole value
        assert re.fullmatch(pattern, value), f"{name}={value!r} does not match {pattern}"


def test_the_file_is_sam_cli_config_version_0_1_with_both_environments(config: dict[str, Any]) -> None:
    assert config["version"] == 0.1
    for env in ENVIRONMENTS:
        assert config[env]["validate"]["parameters"]["lint"] is True
        assert config[env]["global"]["parameters"]["stack_name"]
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["resolve_s3"] is True and deploy["s3_prefix"]
        assert deploy["confirm_changeset"] is True
    assert config["default"]["global"]["parameters"]["stack_name"] == "intacct-sync"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_override_names_a_template_parameter_with_an_allowed_value(
    config: dict[str, Any], template: dict[str, Any], env: str
) -> None:
    params = template["Parameters"]
    values = overrides(config, env)
    assert "Stage" in values and "ReservedConcurrency" in values
    for name, value in values.items():
        assert name in params, f"[{env}] parameter_overrides sets {name}, which template.yaml does not declare"
        check_value(name, params[name], value)
    for name, spec in params.items():
        assert "Default" in spec or name in values, f"[{env}] {name} has no default and no override"


def test_reserved_concurrency_is_off_by_default(config: dict[str, Any], template: dict[str, Any]) -> None:
    """New accounts have a concurrency quota of 10 and Lambda keeps 10 unreserved: reserving fails there."""
    assert str(template["Parameters"]["ReservedConcurrency"]["Default"]) == "false"
    for env in ENVIRONMENTS:
        assert overrides(config, env)["ReservedConcurrency"] == "false"


def test_each_environment_is_its_own_stack_and_stage(config: dict[str, Any]) -> None:
    stacks = [config[env]["global"]["parameters"]["stack_name"] for env in ENVIRONMENTS]
    stages = [overrides(config, env)["Stage"] for env in ENVIRONMENTS]
    prefixes = [config[env]["deploy"]["parameters"]["s3_prefix"] for env in ENVIRONMENTS]
    assert len(set(stacks)) == len(set(stages)) == len(set(prefixes)) == len(ENVIRONMENTS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_capabilities_are_what_the_template_needs(config: dict[str, Any], template: dict[str, Any], env: str) -> None:
    raw = config[env]["deploy"]["parameters"]["capabilities"]
    given = set(raw if isinstance(raw, list) else raw.split())
    assert given == required_capabilities(template)


def test_the_template_names_no_iam_role_and_nests_no_stack(template: dict[str, Any]) -> None:
    """Pins the reasoning in samconfig.toml's header: change it there if this changes."""
    assert required_capabilities(template) == {"CAPABILITY_IAM"}


@pytest.mark.skipif(not TOOLS_PYTHON.exists(), reason="SAM CLI tools venv (.venv-tools) not created")
def test_sam_cli_reads_the_file_as_this_test_does(config: dict[str, Any]) -> None:
    """SAM CLI's own config reader and parameter-override parser (tools venv) agree with the above."""
    script = (
        "import json, sys\n"
        "from samcli.lib.config.samconfig import SamConfig\n"
        "from samcli.cli.types import CfnParameterOverridesType\n"
        f"c = SamConfig(config_dir={str(ROOT)!r}, filename='samconfig.toml')\n"
        "assert c.sanity_check()\n"
        "out = {}\n"
        f"for env in {list(ENVIRONMENTS)!r}:\n"
        "    d = dict(c.get_all(['deploy'], 'parameters', env=env))\n"
        "    out[env] = CfnParameterOverridesType().convert(d['parameter_overrides'], None, None)\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([str(TOOLS_PYTHON), "-c", script], capture_output=True, text=True, check=True, timeout=120)  # noqa: S603
    assert json.loads(result.stdout) == {env: overrides(config, env) for env in ENVIRONMENTS}
