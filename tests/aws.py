"""The stack's AWS resources in moto, named and configured as template.yaml declares them."""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from intacct_sync.connections import SecretsManagerConnections
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import SqsEventQueue, decode
from intacct_sync.state import DynamoStateStore

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"


@dataclass
class Stack:
    stage: str
    sqs: Any
    s3: Any
    dynamodb: Any
    secrets: Any
    orders_url: str
    payments_url: str
    orders_dlq_url: str
    payments_dlq_url: str
    bucket: str
    table: str
    prefix: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "STAGE": self.stage,
            "ORDERS_QUEUE_URL": self.orders_url,
            "PAYMENTS_QUEUE_URL": self.payments_url,
            "CLAIM_CHECK_BUCKET": self.bucket,
            "STATE_TABLE": self.table,
            "CONNECTION_SECRET_PREFIX": self.prefix,
        }

    def put_connection(self, data: dict[str, Any]) -> None:
        self.secrets.create_secret(Name=self.prefix + data["id"], SecretString=json.dumps(data))

    def queue(self) -> SqsEventQueue:
        return SqsEventQueue(
            orders_url=self.orders_url,
            payments_url=self.payments_url,
            bucket=self.bucket,
            sqs=self.sqs,
            s3=self.s3,
        )

    def state(self) -> DynamoStateStore:
        return DynamoStateStore(self.table, client=self.dynamodb)

    def pipeline(self) -> EventPipeline:
        return EventPipeline(self.state(), self.queue())

    def intake(self) -> WebhookIntake:
        return WebhookIntake(SecretsManagerConnections(self.prefix, client=self.secrets), self.pipeline())

    def drain(self, queue: str) -> list[tuple[dict[str, Any], CanonicalEvent]]:
        """Receive and delete every message of a queue ('orders', 'payments', or a DLQ url)."""
        url = {"orders": self.orders_url, "payments": self.payments_url}.get(queue, queue)
        out: list[tuple[dict[str, Any], CanonicalEvent]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append((m, decode(m["Body"], self.queue().get_claim)))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _fifo(sqs: Any, name: str, *, dlq_arn: str | None = None) -> str:
    attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "false", "VisibilityTimeout": "540"}
    if dlq_arn:
        attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "8"})
    url: str = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    return url


@functools.cache
def state_table_properties() -> dict[str, Any]:
    """template.yaml's StateTable properties (keys and the writeback indexes), read, not restated."""
    from local.stack import load_template

    props: dict[str, Any] = load_template()["Resources"]["StateTable"]["Properties"]
    return props


def create_stack(stage: str = "test") -> Stack:
    """Create the resources (call inside moto's mock_aws or against a moto server)."""
    sqs = boto3.client("sqs", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    queues: dict[str, str] = {}
    for name in ("orders", "payments"):
        dlq = _fifo(sqs, f"intacct-sync-{stage}-{name}-dlq.fifo")
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[name] = _fifo(sqs, f"intacct-sync-{stage}-{name}.fifo", dlq_arn=arn)
        queues[f"{name}-dlq"] = dlq
    bucket = f"intacct-sync-{stage}-claims"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    table = f"intacct-sync-{stage}-state"
    declared = state_table_properties()
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=declared["AttributeDefinitions"],
        KeySchema=declared["KeySchema"],
        GlobalSecondaryIndexes=declared["GlobalSecondaryIndexes"],
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    return Stack(
        stage=stage,
        sqs=sqs,
        s3=s3,
        dynamodb=ddb,
        secrets=secrets,
        orders_url=queues["orders"],
        payments_url=queues["payments"],
        orders_dlq_url=queues["orders-dlq"],
        payments_dlq_url=queues["payments-dlq"],
        bucket=bucket,
        table=table,
        prefix=f"intacct-sync/{stage}/connections/",
    )


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py under a unique module name (every handler is app.py)."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeContext:
    """The parts of a Lambda context Powertools and our deadlines use."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = "req-1"
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_lambda_event(stack: Stack, queue: str, *, max_messages: int = 10) -> dict[str, Any]:
    """Receive up to `max_messages` from a queue and shape them as Lambda's SQS event does."""
    url = {"orders": stack.orders_url, "payments": stack.payments_url}.get(queue, queue)
    got = stack.sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max_messages,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,
    ).get("Messages", [])
    records = []
    for m in got:
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {"stringValue": v.get("StringValue"), "dataType": v.get("DataType", "String")}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "eventSource": "aws:sqs",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}
