"""Least privilege per function, checked on the template as CloudFormation receives it.

template.yaml is expanded with the SAM translator (what `sam deploy` and the
AWS::Serverless-2016-10-31 transform do), because SAM adds policies of its own: managed policies
for SQS event sources, tracing and VpcConfig. The expanded roles must grant exactly the
(action, resource) pairs listed below, for both values of StaticEgressIps. Adding a call to the
code means adding it here and to the role, on purpose.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

BASIC = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
VPC_ACCESS = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"

TABLE = "${StateTable.Arn}"
KEY = "${DataKey.Arn}"
CLAIMS = "${ClaimCheckBucket.Arn}/claims/*"
SETTINGS = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${SyncSettings}"
INTACCT_SECRET = "${IntacctCredentials}"
CONNECTION_SECRETS = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:intacct-sync/${Stage}/connections/*"
)

# The only actions allowed on Resource "*", each because AWS offers no resource to scope it to:
STAR_ALLOWED = {
    # X-Ray trace upload for Tracing: Active; these actions have no resource-level permissions.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    # Listing the connection secrets (reconcile and writeback iterate every connection);
    # ListSecrets has no resource-level permissions.
    "secretsmanager:ListSecrets",
}
# cloudwatch:PutMetricData is not granted at all: metrics are Powertools EMF lines on stdout.
# The ENI actions for VpcConfig come from AWSLambdaVPCAccessExecutionRole, attached only when
# StaticEgressIps=true (checked below).


def _pairs(actions: list[str], *resources: str) -> set[tuple[str, str]]:
    return {(a, r) for a in actions for r in resources}


TRACING = _pairs(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")
SEND_KEY = _pairs(["kms:GenerateDataKey", "kms:Decrypt"], KEY)

EXPECTED: dict[str, set[tuple[str, str]]] = {
    "WebhookFunction": (
        _pairs(["sqs:SendMessage"], "${OrdersQueue.Arn}", "${PaymentsQueue.Arn}")
        | SEND_KEY
        | _pairs(["s3:PutObject"], CLAIMS)
        | _pairs(["dynamodb:UpdateItem"], TABLE)
        | _pairs(["secretsmanager:GetSecretValue"], CONNECTION_SECRETS)
        | TRACING
    ),
    "ReconcileFunction": (
        _pairs(["sqs:SendMessage"], "${OrdersQueue.Arn}", "${PaymentsQueue.Arn}")
        | SEND_KEY
        | _pairs(["s3:PutObject"], CLAIMS)
        | _pairs(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:UpdateItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",  # the job lease
            ],
            TABLE,
        )
        # the oldest payment waiting for its invoice (issue 13: the wait-age alarm on a schedule)
        | _pairs(["dynamodb:Query"], "${StateTable.Arn}/index/writeback")
        | _pairs(["secretsmanager:GetSecretValue"], CONNECTION_SECRETS)
        | _pairs(["secretsmanager:ListSecrets"], "*")
        | TRACING
    ),
    "StockPushFunction": (
        _pairs(["ssm:GetParameter"], SETTINGS)
        # snapshot documents, the job lease and semaphore, the Intacct circuit breaker (GetItem)
        | _pairs(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"], TABLE)
        | _pairs(["secretsmanager:GetSecretValue"], INTACCT_SECRET, CONNECTION_SECRETS)
        | TRACING
    ),
    "WritebackFunction": (
        _pairs(["ssm:GetParameter"], SETTINGS)
        | _pairs(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"], TABLE)
        # the pending-work index only: no Scan of the ledger on a schedule
        | _pairs(["dynamodb:Query"], f"{TABLE}/index/writeback")
        | _pairs(["secretsmanager:GetSecretValue"], INTACCT_SECRET, CONNECTION_SECRETS)
        | _pairs(["secretsmanager:ListSecrets"], "*")
        | TRACING
    ),
    "PayoutsFunction": (
        _pairs(["ssm:GetParameter"], SETTINGS)
        # ledger entries and payout records by key; the payout put, its open list and watermark
        # (UpdateItem); the job lease, the Intacct semaphore and circuit breaker. No Query, no Scan.
        | _pairs(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            TABLE,
        )
        | _pairs(["secretsmanager:GetSecretValue"], INTACCT_SECRET, CONNECTION_SECRETS)
        | _pairs(["secretsmanager:ListSecrets"], "*")
        | TRACING
    ),
    "OrderConsumerFunction": (
        _pairs(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
            "${OrdersQueue.Arn}",
        )
        # parking; payments found on a fetched order or waiting for the invoice; recycled records (issue 13)
        | _pairs(["sqs:SendMessage"], "${OrdersDeadLetterQueue.Arn}", "${PaymentsQueue.Arn}", "${OrdersQueue.Arn}")
        | _pairs(["dynamodb:Query"], "${StateTable.Arn}/index/writeback")
        | SEND_KEY
        | _pairs(["s3:GetObject", "s3:PutObject"], CLAIMS)
        | _pairs(["ssm:GetParameter"], SETTINGS)
        | _pairs(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            TABLE,
        )
        | _pairs(["secretsmanager:GetSecretValue"], INTACCT_SECRET, CONNECTION_SECRETS)
        | TRACING
    ),
    "PaymentConsumerFunction": (
        _pairs(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
            "${PaymentsQueue.Arn}",
        )
        | _pairs(["sqs:SendMessage"], "${PaymentsDeadLetterQueue.Arn}", "${PaymentsQueue.Arn}")
        | _pairs(["dynamodb:Query"], "${StateTable.Arn}/index/writeback")
        | SEND_KEY
        | _pairs(["s3:GetObject"], CLAIMS)
        | _pairs(["ssm:GetParameter"], SETTINGS)
        | _pairs(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            TABLE,
        )
        | _pairs(["secretsmanager:GetSecretValue"], INTACCT_SECRET, CONNECTION_SECRETS)
        | TRACING
    ),
}
IN_VPC = {
    "StockPushFunction",
    "WritebackFunction",
    "PayoutsFunction",
    "OrderConsumerFunction",
    "PaymentConsumerFunction",
}


class FakeManagedPolicies:
    """The translator's ManagedPolicyLoader without IAM: AWS managed policy names to ARNs."""

    def load(self) -> dict[str, str]:
        names = {
            "AWSLambdaBasicExecutionRole": "service-role/",
            "AWSLambdaVPCAccessExecutionRole": "service-role/",
            "AWSLambdaSQSQueueExecutionRole": "service-role/",
            "AWSXrayWriteOnlyAccess": "",
            "AWSXRayDaemonWriteAccess": "",
        }
        return {name: f"arn:aws:iam::aws:policy/{path}{name}" for name, path in names.items()}


class Expanded:
    """The translated template with conditions evaluated for one set of parameter values."""

    def __init__(self, static_ips: str, monkeypatch: pytest.MonkeyPatch) -> None:
        source = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
        for resource in source["Resources"].values():
            props = resource.get("Properties", {})
            for key in ("CodeUri", "ContentUri"):
                if isinstance(props.get(key), str):  # `sam build`/`package` turn these into S3 URIs
                    props[key] = f"s3://bucket/{props[key]}"
        self.parameters = {name: str(p.get("Default", "")) for name, p in source.get("Parameters", {}).items()} | {
            "StaticEgressIps": static_ips
        }
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the translator's pseudo parameters
        self.template = transform(copy.deepcopy(source), dict(self.parameters), FakeManagedPolicies())  # type: ignore[arg-type]
        self.conditions = {name: self._condition(c) for name, c in self.template.get("Conditions", {}).items()}

    def _condition(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Fn::Equals":
                left, right = (self.render(a) for a in args)
                return left == right
            if fn == "Fn::Not":
                return not self._condition(args[0])
            if fn == "Fn::And":
                return all(self._condition(a) for a in args)
            if fn == "Fn::Or":
                return any(self._condition(a) for a in args)
            if fn == "Condition":
                return self._condition(self.template["Conditions"][args])
        raise AssertionError(f"condition not understood: {node!r}")

    def render(self, node: Any) -> Any:
        """Intrinsics as readable text (`${Logical.Arn}`, `${Param}`), Fn::If evaluated, no-values dropped."""
        if isinstance(node, list):
            return [v for v in (self.render(n) for n in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Ref":
                if args == "AWS::NoValue":
                    return None
                return self.parameters.get(args, f"${{{args}}}")
            if fn == "Fn::GetAtt":
                return "${" + ".".join(args if isinstance(args, list) else [args]) + "}"
            if fn == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else args
                for name, value in variables.items():
                    text = text.replace(f"${{{name}}}", str(self.render(value)))
                return text
            if fn == "Fn::If":
                name, yes, no = args
                return self.render(yes if self.conditions[name] else no)
        return {k: v for k, v in ((k, self.render(v)) for k, v in node.items()) if v is not None}

    def resources(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical, resource in self.template["Resources"].items():
            if resource["Type"] == kind:
                if "Condition" in resource and not self.conditions[resource["Condition"]]:
                    continue
                yield logical, resource

    def function_role(self, function: str) -> dict[str, Any]:
        role_ref = self.template["Resources"][function]["Properties"]["Role"]
        assert role_ref == {"Fn::GetAtt": [f"{function}Role", "Arn"]}, f"{function} must use its own role"
        role: dict[str, Any] = self.render(self.template["Resources"][f"{function}Role"]["Properties"])
        return role


def _grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert not {"NotAction", "NotResource"} & set(statement), "NotAction/NotResource widen a grant"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            pairs |= _pairs(actions, *resources)
    return pairs


@pytest.fixture(scope="module", params=["false", "true"], ids=["StaticEgressIps=false", "StaticEgressIps=true"])
def expanded(request: pytest.FixtureRequest) -> Iterator[Expanded]:
    with pytest.MonkeyPatch.context() as mp:
        yield Expanded(request.param, mp)


def test_every_function_is_listed_here(expanded: Expanded) -> None:
    functions = {logical for logical, _ in expanded.resources("AWS::Lambda::Function")}
    assert functions == set(EXPECTED), "a function was added or renamed: list its exact permissions here"


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_function_role_grants_exactly_what_its_code_calls(expanded: Expanded, function: str) -> None:
    granted = _grants(expanded.function_role(function))
    assert sorted(granted - EXPECTED[function]) == [], "granted but not used"
    assert sorted(EXPECTED[function] - granted) == [], "used but not granted"


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_managed_policies_are_basic_execution_plus_vpc_access_only_in_the_vpc(
    expanded: Expanded, function: str
) -> None:
    role = expanded.function_role(function)
    in_vpc = function in IN_VPC and expanded.conditions["UseStaticIps"]
    assert sorted(role.get("ManagedPolicyArns", [])) == sorted([BASIC] + ([VPC_ACCESS] if in_vpc else []))
    vpc_config = expanded.render(expanded.template["Resources"][function]["Properties"].get("VpcConfig"))
    assert bool(vpc_config) == in_vpc, "ENI permissions exactly when the function runs in the VPC"


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_only_lambda_may_assume_a_function_role(expanded: Expanded, function: str) -> None:
    trust = expanded.function_role(function)["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]


def test_star_resources_only_where_aws_has_no_resource_to_scope_to(expanded: Expanded) -> None:
    for function in EXPECTED:
        starred = {action for action, resource in _grants(expanded.function_role(function)) if resource == "*"}
        assert starred <= STAR_ALLOWED, f"{function}: {sorted(starred - STAR_ALLOWED)} on '*'"
        wildcard_actions = {a for a, _ in _grants(expanded.function_role(function)) if re.search(r"[*?]", a)}
        assert not wildcard_actions, f"{function}: wildcard actions {sorted(wildcard_actions)}"


def test_no_other_policy_resources_widen_the_roles(expanded: Expanded) -> None:
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
        assert list(expanded.resources(kind)) == [], f"{kind} would add to a role outside its own statement list"
    roles = {logical for logical, _ in expanded.resources("AWS::IAM::Role")}
    flow_logs = {"VpcFlowLogRole"} if expanded.conditions["UseStaticIps"] else set()
    assert roles == {f"{f}Role" for f in EXPECTED} | flow_logs
