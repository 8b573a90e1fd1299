"""SNS's refusals as AWS answered them (``aws-parity/sns``): FIFO topics (group and
deduplication ids, which queues and protocols may subscribe) and filter-policy limits
(five attribute names, 150 combinations, nesting only on the message body)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config

from tests.conftest import LamboxServer, unique
from tests.integration.test_sqs import sqs_client
from tests.parity.snapshot import call, parity_dir

PREFIX = "tests/aws/services/sns/"


def recording(file: str, test: str, key: str) -> dict[str, Any]:
    data = json.loads((parity_dir() / "sns" / file).read_text())
    content: dict[str, Any] = data[PREFIX + test]["recorded-content"][key]
    return content


@pytest.fixture(scope="module")
def sns(server: LamboxServer) -> Any:
    import boto3

    return boto3.client(
        "sns",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


@pytest.fixture(scope="module")
def sqs(server: LamboxServer) -> Any:
    return sqs_client(server)


def _queue_arn(sqs: Any, fifo: bool = False) -> str:
    name = unique("pq") + (".fifo" if fifo else "")
    attributes = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(got["Attributes"]["QueueArn"])


def _fifo_topic(sns: Any, dedup: bool = False) -> str:
    attributes = {"FifoTopic": "true", "ContentBasedDeduplication": str(dedup).lower()}
    return str(sns.create_topic(Name=unique("ft") + ".fifo", Attributes=attributes)["TopicArn"])


def _standard_topic(sns: Any) -> str:
    return str(sns.create_topic(Name=unique("st"))["TopicArn"])


FIFO = (
    "delivery-sqs.snapshot.json",
    "test_sns.py::TestSNSSubscriptionSQSFifo::test_validations_for_fifo",
)
FIFO_CASES: list[tuple[str, Callable[[Any, Any], dict[str, Any]]]] = [
    ("not-fifo-topic", lambda sns, sqs: call(
        sns.subscribe, TopicArn=_standard_topic(sns), Protocol="sqs",
        Endpoint=_queue_arn(sqs, fifo=True))),
    ("no-msg-group-id", lambda sns, sqs: call(
        sns.publish, TopicArn=_fifo_topic(sns), Message="test")),
    ("no-dedup-policy", lambda sns, sqs: call(
        sns.publish, TopicArn=_fifo_topic(sns), Message="test", MessageGroupId="g")),
    ("no-msg-dedup-regular-topic", lambda sns, sqs: call(
        sns.publish, TopicArn=_standard_topic(sns), Message="test",
        MessageDeduplicationId="d")),
]  # fmt: skip


def _error(response: dict[str, Any]) -> tuple[dict[str, Any], int]:
    error = {k: v for k, v in response["Error"].items() if k in ("Code", "Message", "Type")}
    return error, response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize(("key", "run"), FIFO_CASES, ids=[c[0] for c in FIFO_CASES])
def test_fifo_refusals_match_aws(
    sns: Any, sqs: Any, key: str, run: Callable[[Any, Any], dict[str, Any]]
) -> None:
    assert _error(run(sns, sqs)) == _error(recording(*FIFO, key))


def test_fifo_topic_name_and_attribute_refusals_match_aws(sns: Any) -> None:
    no_flag = call(sns.create_topic, Name=unique("t") + ".fifo")
    recorded = recording(
        "topics.snapshot.json",
        "test_sns.py::TestSNSTopicCrudV2::test_create_topic_different_attrs",
        "create-topic-new-attrs-fifo",
    )
    assert _error(no_flag) == _error(recorded)
    change = call(
        sns.set_topic_attributes,
        TopicArn=_standard_topic(sns),
        AttributeName="FifoTopic",
        AttributeValue="false",
    )
    recorded = recording(
        "topics.snapshot.json",
        "test_sns.py::TestSNSTopicCrudV2::test_topic_get_attributes_with_fifo_false",
        "set-fifo-false-after-creation",
    )
    assert _error(change) == _error(recorded)


LIMITS = "filter-policies.snapshot.json"
COMPLEXITY = "test_sns_filter_policy.py::TestSNSFilterPolicyConditions::test_policy_complexity"
COMPLEXITY_OR = (
    "test_sns_filter_policy.py::TestSNSFilterPolicyConditions::test_policy_complexity_with_or"
)
NESTED = (
    "test_sns_filter_policy.py::TestSNSFilterPolicyCrud::test_sub_filter_policy_nested_property"
)
NESTED_LIMITS = (
    "test_sns_filter_policy.py::TestSNSFilterPolicyCrud"
    "::test_sub_filter_policy_nested_property_constraints"
)
SUBSCRIBE_CASES: list[tuple[str, str, dict[str, Any]]] = [
    (COMPLEXITY, "error-complexity-in-one-condition", {"key": [f"value{i}" for i in range(151)]}),
    (COMPLEXITY, "error-complexity-in-two-conditions",
     {"key1": [f"value{i}" for i in range(100)], "key2": [f"value{i}" for i in range(51)]}),
    (COMPLEXITY, "error-complexity-too-many-fields", {f"key{i}": [f"value{i}"] for i in range(6)}),
    (COMPLEXITY_OR, "error-complexity-or-flat", {
        "source": ["aws.cloudwatch", "aws.events", "aws.test", "aws.test2"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency", "t1", "t2", "t3", "t4"]},
            {"metricType": ["MetricType", "TestType", "TestType2", "TestType3"],
             "$or": [{"metricId": [1234, 4321, 5678, 9012]}, {"spaceId": [1, 2, 3, 4]}]},
        ],
    }),
]  # fmt: skip


@pytest.mark.parametrize(
    ("test", "key", "policy"), SUBSCRIBE_CASES, ids=[c[1] for c in SUBSCRIBE_CASES]
)
def test_filter_policy_limits_on_subscribe_match_aws(
    sns: Any, sqs: Any, test: str, key: str, policy: dict[str, Any]
) -> None:
    got = call(
        sns.subscribe,
        TopicArn=_standard_topic(sns),
        Protocol="sqs",
        Endpoint=_queue_arn(sqs),
        Attributes={"FilterPolicy": json.dumps(policy)},
    )
    assert _error(got) == _error(recording(LIMITS, test, key))


def test_filter_policy_limits_on_set_attributes_match_aws(sns: Any, sqs: Any) -> None:
    arn = sns.subscribe(TopicArn=_standard_topic(sns), Protocol="sqs", Endpoint=_queue_arn(sqs))[
        "SubscriptionArn"
    ]

    def set_policy(policy: dict[str, Any]) -> dict[str, Any]:
        return call(
            sns.set_subscription_attributes,
            SubscriptionArn=arn,
            AttributeName="FilterPolicy",
            AttributeValue=json.dumps(policy),
        )

    nested = {"object": {"key": [{"prefix": "auto-"}]}}
    assert _error(set_policy(nested)) == _error(
        recording(LIMITS, NESTED, "sub-filter-policy-nested-error")
    )
    sns.set_subscription_attributes(
        SubscriptionArn=arn, AttributeName="FilterPolicyScope", AttributeValue="MessageBody"
    )
    assert "Error" not in set_policy(nested)
    too_many = {
        "key_a": {"key_b": {"key_c": ["value_one", "value_two", "value_three", "value_four"]}},
        "key_d": {"key_e": ["value_one", "value_two", "value_three"]},
        "key_f": ["value_one", "value_two", "value_three"],
    }
    assert _error(set_policy(too_many)) == _error(
        recording(LIMITS, NESTED_LIMITS, "sub-filter-policy-nested-error-too-many-combinations")
    )
    six = {f"key_{c}": [f"value_{c}"] for c in "abcdef"}
    assert _error(set_policy(six)) == _error(
        recording(LIMITS, NESTED_LIMITS, "sub-filter-policy-max-attr-keys")
    )
    scope = call(
        sns.set_subscription_attributes,
        SubscriptionArn=arn,
        AttributeName="FilterPolicyScope",
        AttributeValue="RandomValue",
    )
    recorded = recording(
        LIMITS,
        "test_sns_filter_policy.py::TestSNSFilterPolicyCrud::test_set_subscription_filter_policy_scope",
        "sub-attrs-filter-scope-error",
    )
    assert _error(scope) == _error(recorded)
