"""The stack on one machine, wired as template.yaml declares it (a dev tool, never deployed).

AWS is moto's server (`AWS_ENDPOINT_URL`); Intacct and the channels are the sandboxes. The
template is read, not restated: every queue (FIFO, visibility timeout, redrive to its DLQ), the
table, the bucket, the secret and the settings parameter are created from it, and every function
runs in this process with the environment the template gives it:

- `HttpApi` events: served over real HTTP as API Gateway v2 events (base64 bodies);
- `SQS` events: a poller per mapping with the mapping's batch size, `ReportBatchItemFailures`
  (only the successes are deleted; failures come back after the visibility timeout and reach
  the DLQ after the redrive's maxReceiveCount, as in AWS);
- `Schedule` events: run on demand (`run_schedule`) or on a timer (`every_s`).

Visibility timeouts are divided by `time_scale` so that retries happen in seconds, not minutes.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
log = logging.getLogger("local.stack")


# --- template ----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub, ...) as plain dicts."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _tag)


def load_template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    return data


@dataclass
class Function:
    name: str
    code: Path
    handler: str
    timeout_s: int
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    module: ModuleType | None = None

    def load(self) -> Callable[[dict[str, Any], Any], Any]:
        if self.module is None:
            module_name, _, _ = self.handler.partition(".")
            spec = importlib.util.spec_from_file_location(f"local_fn_{self.name}", self.code / f"{module_name}.py")
            assert spec and spec.loader
            self.module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = self.module
            spec.loader.exec_module(self.module)
        handler: Callable[[dict[str, Any], Any], Any] = getattr(self.module, self.handler.partition(".")[2])
        return handler


@dataclass
class Context:
    function_name: str
    timeout_s: int
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


@dataclass
class SqsMapping:
    function: Function
    queue_logical: str
    batch_size: int
    report_failures: bool


class LocalStack:
    """Builds and runs the stack; use as a context manager."""

    def __init__(
        self,
        *,
        intacct_credentials: dict[str, Any],
        settings: dict[str, Any] | None = None,
        connections: list[dict[str, Any]] = (),  # type: ignore[assignment]
        stage: str = "local",
        parameters: dict[str, Any] | None = None,
        time_scale: float = 60.0,
        api_port: int = 0,
        moto_port: int = 0,
        template: Path = ROOT / "template.yaml",
    ) -> None:
        self.template = load_template(template)
        self.stage = stage
        self.parameters = {"Stage": stage, **(parameters or {})}
        self.time_scale = time_scale
        self.intacct_credentials = intacct_credentials
        self.settings = settings
        self.connections = list(connections)
        self.api_port, self.moto_port = api_port, moto_port
        self.physical: dict[str, str] = {}  # logical id -> Ref value (queue URL, table name...)
        self.arns: dict[str, str] = {}
        self.functions: dict[str, Function] = {}
        self.routes: list[tuple[str, re.Pattern[str], Function]] = []
        self.mappings: list[SqsMapping] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.invocations: dict[str, int] = {}
        self._moto: Any = None
        self._api: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()
        self._saved_env: dict[str, str] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        from local.moto_atomic import make_dynamodb_atomic

        make_dynamodb_atomic()  # DynamoDB's atomic conditional writes, with concurrent senders and consumers
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        self._saved_env = dict(os.environ)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        # moto's backends live in the process: a stack started earlier here left its resources.
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=10).raise_for_status()
        for key, value in {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            os.environ[key] = value
        _forget_cached_config()
        self._create_resources()
        self._create_functions()
        self._serve_api()
        for mapping in self.mappings:
            t = threading.Thread(target=self._poll, args=(mapping,), name=f"poll-{mapping.function.name}", daemon=True)
            t.start()
            self._threads.append(t)
        if os.environ.get("LOCAL_STACK_PRINT_CLI_ENV"):  # set by `make local`
            print(self.cli_instructions(), flush=True)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
        if self._moto is not None:
            self._moto.stop()
        # Functions ran in this process with the stack's environment: give the process its own back.
        os.environ.clear()
        os.environ.update(self._saved_env)
        _forget_cached_config()

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.moto_url)

    # --- the CLIs against this stack -------------------------------------------------------

    def cli_environment(self) -> dict[str, str]:
        """What `intacct-sync` needs in another shell to use this stack: moto's endpoint with test
        credentials, and the resources under the names template.yaml gives the functions (the local
        stack has no CloudFormation for `--stack` to read)."""
        from intacct_sync.cli.main import ENVIRONMENT_OUTPUTS

        variables = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        resolved = self._resolve(variables)
        env = {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
        }
        return env | {k: str(resolved[k]) for k in ENVIRONMENT_OUTPUTS if k in resolved}

    def cli_instructions(self, order: str = "#1001") -> str:
        """The block `make local` prints: exports, then commands that work against this stack."""
        import shlex

        env = self.cli_environment()
        aws = [k for k in env if k.startswith("AWS_")]
        resources = [k for k in env if not k.startswith("AWS_")]
        connection = self.connections[0]["id"] if self.connections else "<connection id>"
        lines = [
            "",
            "The CLIs against this stack (in another shell, after `source .venv/bin/activate`):",
            "  unset AWS_PROFILE",
            "  export " + " ".join(f"{k}={shlex.quote(env[k])}" for k in aws),
            *(f"  export {k}={shlex.quote(env[k])}" for k in resources),
            "  intacct-sync ops parked",
            f"  intacct-sync ops status --connection {connection} --order {shlex.quote(order)}"
            "   # once the order's webhook arrived",
            "  intacct-sync ops replay --queue orders --dry-run",
            "  intacct-sync doctor",
            "",
        ]
        return "\n".join(lines)

    # --- resources -------------------------------------------------------------------------

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if "Ref" in value:
                ref = value["Ref"]
                return self._pseudo(ref) or self.physical.get(ref, ref)
            if "Fn::GetAtt" in value:
                logical, attr = value["Fn::GetAtt"]
                if attr == "Arn":
                    return self.arns[logical]
                if attr == "QueueName":
                    return self.physical[logical].rsplit("/", 1)[1]
                return self.physical[logical]
            if "Fn::Sub" in value:
                text = value["Fn::Sub"]

                def sub(m: re.Match[str]) -> str:
                    name = m.group(1)
                    if "." in name:
                        return str(self._resolve({"Fn::GetAtt": name.split(".", 1)}))
                    return str(self._pseudo(name) or self.physical.get(name, name))

                return re.sub(r"\$\{([^}]+)\}", sub, text)
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value

    def _pseudo(self, name: str) -> str | None:
        """Pseudo parameters and template parameters (their defaults, or `parameters` overrides)."""
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return str(self.parameters[name])
        declared = self.template.get("Parameters", {}).get(name)
        return str(declared["Default"]) if declared and "Default" in declared else None

    def _resources(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical, res in self.template["Resources"].items():
            if res["Type"] == kind:
                yield logical, res.get("Properties", {})

    def _create_resources(self) -> None:
        sqs, ddb, s3 = self.client("sqs"), self.client("dynamodb"), self.client("s3")
        queues = dict(self._resources("AWS::SQS::Queue"))
        # Dead-letter queues first: the others' redrive policies point at them.
        for logical in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]):
            props = queues[logical]
            attrs = {"FifoQueue": "true"} if props.get("FifoQueue") else {}
            if props.get("FifoQueue"):
                attrs["ContentBasedDeduplication"] = str(bool(props.get("ContentBasedDeduplication"))).lower()
            if "VisibilityTimeout" in props:
                attrs["VisibilityTimeout"] = str(max(1, int(int(props["VisibilityTimeout"]) / self.time_scale)))
            if "RedrivePolicy" in props:
                policy = self._resolve(props["RedrivePolicy"])
                attrs["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": policy["deadLetterTargetArn"],
                        "maxReceiveCount": str(policy["maxReceiveCount"]),
                    }
                )
            url = sqs.create_queue(QueueName=self._resolve(props["QueueName"]), Attributes=attrs)["QueueUrl"]
            self.physical[logical] = url
            self.arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        for logical, props in self._resources("AWS::DynamoDB::Table"):
            name = self._resolve(props["TableName"])
            indexes = props.get("GlobalSecondaryIndexes")  # the writeback's sparse indexes
            ddb.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=props["AttributeDefinitions"],
                KeySchema=props["KeySchema"],
                **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
            )
            self.physical[logical], self.arns[logical] = name, f"arn:aws:dynamodb:{REGION}:123456789012:table/{name}"
        for logical, _props in self._resources("AWS::S3::Bucket"):
            name = f"intacct-sync-{self.stage}-{logical.lower()}"
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            self.physical[logical], self.arns[logical] = name, f"arn:aws:s3:::{name}"
        secrets = self.client("secretsmanager")
        for logical, props in self._resources("AWS::SecretsManager::Secret"):
            created = secrets.create_secret(
                Name=self._resolve(props["Name"]), SecretString=json.dumps(self.intacct_credentials)
            )
            self.physical[logical] = self.arns[logical] = created["ARN"]
        prefix = f"intacct-sync/{self.stage}/connections/"
        for conn in self.connections:
            secrets.create_secret(Name=prefix + conn["id"], SecretString=json.dumps(conn))
        ssm = self.client("ssm")
        for logical, props in self._resources("AWS::SSM::Parameter"):
            name = self._resolve(props["Name"])
            value = json.dumps(self.settings) if self.settings is not None else props["Value"]
            ssm.put_parameter(Name=name, Type="String", Tier="Advanced", Value=value)
            self.physical[logical] = name
        for logical, _props in self._resources("AWS::SNS::Topic"):
            self.physical[logical] = self.client("sns").create_topic(Name=f"intacct-sync-{self.stage}-{logical}")[
                "TopicArn"
            ]
        for logical, props in self._resources("AWS::Serverless::LayerVersion"):
            self.physical[logical] = str(props.get("LayerName", logical))

    def _create_functions(self) -> None:
        globals_ = self.template.get("Globals", {}).get("Function", {})
        base_env = self._resolve(globals_.get("Environment", {}).get("Variables", {}))
        os.environ.update({k: str(v) for k, v in base_env.items()})
        for logical, props in self._resources("AWS::Serverless::Function"):
            env = dict(base_env) | self._resolve(props.get("Environment", {}).get("Variables", {}))
            fn = Function(
                name=logical,
                code=ROOT / props["CodeUri"],
                handler=props.get("Handler", globals_.get("Handler", "app.lambda_handler")),
                timeout_s=int(props.get("Timeout", globals_.get("Timeout", 30))),
                environment={k: str(v) for k, v in env.items()},
                events=props.get("Events", {}),
            )
            self.functions[logical] = fn
            for event in fn.events.values():
                kind, ep = event["Type"], event.get("Properties", {})
                if kind == "HttpApi":
                    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", ep["Path"]) + "$")
                    self.routes.append((ep.get("Method", "ANY").upper(), pattern, fn))
                elif kind == "SQS":
                    logical_queue = ep["Queue"]["Fn::GetAtt"][0]
                    self.mappings.append(
                        SqsMapping(
                            fn,
                            logical_queue,
                            int(ep.get("BatchSize", 10)),
                            "ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
                        )
                    )

    # --- invoking --------------------------------------------------------------------------

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        fn = self.functions[function]
        with self._lock:
            self.invocations[function] = self.invocations.get(function, 0) + 1
        os.environ.update(fn.environment)
        return fn.load()(event, Context(function, fn.timeout_s))

    def run_schedule(self, function: str) -> Any:
        """Invoke a scheduled function once, with the EventBridge scheduled event."""
        return self.invoke(
            function,
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": REGION,
                "resources": [],
                "detail": {},
            },
        )

    @property
    def api_url(self) -> str:
        assert self._api is not None
        host, port = self._api.server_address[:2]
        return f"http://{host}:{port}"

    def _serve_api(self) -> None:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                for method, pattern, fn in stack.routes:
                    m = pattern.match(path)
                    if m and method in (self.command, "ANY"):
                        event = stack.apigw_event(self.command, self.path, dict(self.headers), body, m.groupdict())
                        try:
                            out = stack.invoke(fn.name, event)
                        except Exception:
                            log.exception("function failed", extra={"function": fn.name})
                            out = {"statusCode": 500, "body": '{"message":"Internal Server Error"}'}
                        self._answer(out)
                        return
                self._answer({"statusCode": 404, "body": '{"message":"Not Found"}'})

            def _answer(self, out: dict[str, Any]) -> None:
                data = out.get("body", "").encode()
                self.send_response(int(out.get("statusCode", 200)))
                for k, v in (out.get("headers") or {"content-type": "application/json"}).items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = do_PUT = _any

        self._api = ThreadingHTTPServer(("127.0.0.1", self.api_port), Handler)
        t = threading.Thread(target=self._api.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        t.start()

    @staticmethod
    def apigw_event(
        method: str, raw_path: str, headers: dict[str, str], body: bytes, params: dict[str, str]
    ) -> dict[str, Any]:
        path, _, query = raw_path.partition("?")
        return {
            "version": "2.0",
            "routeKey": f"{method} {path}",
            "rawPath": path,
            "rawQueryString": query,
            "headers": {k.lower(): v for k, v in headers.items()},
            "requestContext": {
                "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                "requestId": str(uuid.uuid4()),
                "stage": "$default",
                "timeEpoch": int(time.time() * 1000),
            },
            "pathParameters": params,
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }

    def _poll(self, mapping: SqsMapping) -> None:
        sqs = self.client("sqs")
        url = self.physical[mapping.queue_logical]
        while not self._stop.is_set():
            try:
                got = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=mapping.batch_size,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=1,
                ).get("Messages", [])
            except Exception:  # the server is stopping
                if self._stop.is_set():
                    return
                raise
            if not got:
                continue
            event = {"Records": [self._record(m, url) for m in got]}
            try:
                out = self.invoke(mapping.function.name, event)
            except Exception:
                log.exception("consumer failed; the batch returns after its visibility timeout")
                continue
            failed = (
                {f["itemIdentifier"] for f in (out or {}).get("batchItemFailures", [])}
                if mapping.report_failures
                else set()
            )
            for m in got:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def _record(self, m: dict[str, Any], url: str) -> dict[str, Any]:
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {
                k: {"stringValue": v.get("StringValue"), "dataType": v.get("DataType", "String")}
                for k, v in m.get("MessageAttributes", {}).items()
            },
            "eventSource": "aws:sqs",
            "eventSourceARN": url,
            "awsRegion": REGION,
        }

    # --- observing -------------------------------------------------------------------------

    def queue_depths(self) -> dict[str, int]:
        sqs = self.client("sqs")
        out = {}
        for logical, _ in self._resources("AWS::SQS::Queue"):
            attrs = sqs.get_queue_attributes(
                QueueUrl=self.physical[logical],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            out[logical] = int(attrs["ApproximateNumberOfMessages"]) + int(
                attrs["ApproximateNumberOfMessagesNotVisible"]
            )
        return out

    def wait_idle(self, *, timeout_s: float = 60, settle_s: float = 1.5) -> bool:
        """Wait until every non-DLQ queue is empty for `settle_s`; False on time-out."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            busy = {k: v for k, v in self.queue_depths().items() if "DeadLetter" not in k and v}
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle_s:
                return True
            time.sleep(0.2)
        return False


def _forget_cached_config() -> None:
    """Drop per-process caches of environment, secrets and parameters (they belong to one stack)."""
    from aws_lambda_powertools.utilities import parameters

    from intacct_sync import pause, wiring

    wiring.environment.cache_clear()
    parameters.clear_caches()
    pause.forget_gates()


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[LocalStack]:
    with LocalStack(**kwargs) as stack:
        yield stack
