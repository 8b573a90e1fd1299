"""Tagging against AWS's recorded answers (permissions-urls-tags: TestLambdaTags, TestLambdaTag).

Each test replays the calls of one recorded test against lambox and compares the normalised
responses with the recording (``tests/parity/snapshot.py``). The event source mapping variants
of ``test_tag_lifecycle`` and ``test_create_tag_on_esm_create`` are not replayed: lambox has no
event source mappings to tag.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from botocore.loaders import create_loader

from tests.conftest import unique
from tests.parity.snapshot import (
    LAMBOX_ACCOUNT,
    LAMBOX_REGION,
    Normaliser,
    assert_match,
    call,
    create_function,
    recorded,
)

API = "tests/aws/services/lambda_/test_lambda_api.py"
TAGS = f"{API}::TestLambdaTags"
TAG = f"{API}::TestLambdaTag"
LAMBDA_ARN = f"arn:aws:lambda:{LAMBOX_REGION}:{LAMBOX_ACCOUNT}"
PATTERN_TEXT = re.compile(r"(Member must satisfy regular expression pattern: )(.+)$")


def taggable_pattern() -> str:
    """The ``TaggableResource`` pattern of botocore's model, which lambox validates with."""
    shapes = create_loader().load_service_model("lambda", "service-2")["shapes"]
    return str(shapes["TaggableResource"]["pattern"])


def resource_patterns(expected: dict[str, Any], actual: dict[str, Any], *keys: str) -> None:
    """The pattern quoted by a malformed-ARN ValidationException, compared by origin.

    AWS quotes the ``TaggableResource`` pattern of its model on the recording date (with
    ``layer:`` and without ``network-connector:``); lambox quotes the one of botocore's model,
    which is newer. lambox's must be exactly botocore's; then both become "<pattern>", so the
    rest of the message (value, member, constraint) is still compared word for word.
    """
    for key in keys:
        ours = PATTERN_TEXT.search(actual[key]["Error"]["Message"])
        assert ours is not None and ours.group(2) == taggable_pattern(), actual[key]
        for side in (expected[key], actual[key]):
            side["Error"]["Message"] = PATTERN_TEXT.sub(r"\1<pattern>", side["Error"]["Message"])


def tagged_function(client: Any, norm: Normaliser, **params: Any) -> tuple[str, str]:
    """A new Active function, its name registered with ``norm``: (name, FunctionArn)."""
    name = unique("fn-tag")
    norm.name(name)
    created = create_function(client, name, **params)
    return name, str(created["CreateFunctionResponse"]["FunctionArn"])


def test_tag_exceptions(lambda_client: Any) -> None:
    test_id = f"{TAGS}::test_tag_exceptions"
    norm = Normaliser()
    _, arn = tagged_function(lambda_client, norm)
    tag, untag = lambda_client.tag_resource, lambda_client.untag_resource
    got: dict[str, Any] = {}
    got["tag_lambda_invalidarn"] = call(
        tag, Resource="arn:aws:something", Tags={"key_a": "value_a"}
    )
    got["tag_lambda_doesnotexist"] = call(
        tag, Resource=f"{LAMBDA_ARN}:function:doesnotexist", Tags={"key_a": "value_a"}
    )
    got["tag_lambda_qualifier_doesnotexist"] = call(
        tag, Resource=f"{arn}:v1", Tags={"key_a": "value_a"}
    )
    got["list_tag_lambda_empty"] = lambda_client.list_tags(Resource=arn)
    got["untag_nomatch"] = untag(Resource=arn, TagKeys=["somekey"])
    got["untag_empty_keys"] = call(untag, Resource=arn, TagKeys=[])
    got["tag_empty_tags"] = call(tag, Resource=arn, Tags={})
    # What the recorded test asserted beside the snapshot: a partial untag.
    tag(Resource=arn, Tags={"a_key": "a_value", "b_key": "b_value"})
    untag(Resource=arn, TagKeys=["a_key", "c_key"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"b_key": "b_value"}
    expected, actual = recorded(test_id), norm(got)
    resource_patterns(expected, actual, "tag_lambda_invalidarn")
    assert_match(expected, actual)


def test_tag_limits(lambda_client: Any) -> None:
    test_id = f"{TAGS}::test_tag_limits"
    norm = Normaliser()
    name, arn = tagged_function(lambda_client, norm)
    tag = lambda_client.tag_resource
    got: dict[str, Any] = {}
    got["tag_lambda_too_many_tags"] = call(
        tag, Resource=arn, Tags={f"{k}_key": f"{k}_value" for k in range(51)}
    )
    got["tag_response"] = tag(Resource=arn, Tags={f"{k}_key": f"{k}_value" for k in range(50)})
    got["list_tags_response"] = lambda_client.list_tags(Resource=arn)
    got["get_fn_response"] = lambda_client.get_function(FunctionName=name)
    got["tag_lambda_too_many_tags_additional"] = call(tag, Resource=arn, Tags={"a_key": "a_value"})
    got["create_function_invalid_tags"] = call(
        create_function,
        client=lambda_client,
        name=unique("fn-tag"),
        Tags={f"{k}_key": f"{k}_value" for k in range(51)},
    )
    assert_match(recorded(test_id), norm(got))


def test_tag_versions(lambda_client: Any) -> None:
    test_id = f"{TAGS}::test_tag_versions"
    norm = Normaliser()
    name, arn = tagged_function(lambda_client, norm, Tags={"key_a": "value_a"})
    version_arn = lambda_client.publish_version(FunctionName=name)["FunctionArn"]
    added = {"key_b": "value_b", "key_c": "value_c", "key_d": "value_d", "key_e": "value_e"}
    got = {
        "tag_resource_exception": call(
            lambda_client.tag_resource, Resource=version_arn, Tags=added
        ),
        "tag_resource_latest_exception": call(
            lambda_client.tag_resource, Resource=f"{arn}:$LATEST", Tags=added
        ),
    }
    assert_match(recorded(test_id), norm(got))


def test_tags_lifecycle_with_function_reads(lambda_client: Any) -> None:
    """TestLambdaTags::test_tag_lifecycle: each change read back with ListTags and
    GetFunction (whose RevisionId changes with every tag change), then ListTags of the
    deleted function."""
    test_id = f"{TAGS}::test_tag_lifecycle"
    norm = Normaliser()
    name, arn = tagged_function(lambda_client, norm, Tags={"key_a": "value_a"})
    got: dict[str, Any] = {}

    def read_back(suffix: str) -> None:
        got[f"list_tags_response_{suffix}"] = lambda_client.list_tags(Resource=arn)
        got[f"get_fn_response_{suffix}"] = lambda_client.get_function(FunctionName=arn)

    read_back("postfncreate")
    got["tag_resource_response"] = lambda_client.tag_resource(
        Resource=arn,
        Tags={"key_b": "value_b", "key_c": "value_c", "key_d": "value_d", "key_e": "value_e"},
    )
    read_back("postaddtags")
    got["tag_resource_overwrite"] = lambda_client.tag_resource(
        Resource=arn, Tags={"key_b": "value_b", "key_c": "value_x"}
    )
    read_back("overwrite")
    lambda_client.untag_resource(Resource=arn, TagKeys=["key_c", "key_d"])
    read_back("postuntag")
    lambda_client.untag_resource(Resource=arn, TagKeys=["key_a", "key_b", "key_e"])
    read_back("postuntagall")
    lambda_client.delete_function(FunctionName=name)
    got["list_tags_postdelete"] = call(lambda_client.list_tags, Resource=arn)
    assert_match(recorded(test_id), norm(got))


@pytest.mark.parametrize(
    "test_id",
    [f"{TAG}::test_tag_lifecycle", f"{TAG}::test_tag_lifecycle[lambda_function]"],
    ids=["2024", "lambda_function"],
)
def test_tag_lifecycle(lambda_client: Any, test_id: str) -> None:
    """The same tag and untag sequence recorded twice (2024, and 2025 as the function case
    of a test parametrized by resource type), each step read back with ListTags."""
    norm = Normaliser()
    _, arn = tagged_function(lambda_client, norm)
    got: dict[str, Any] = {}
    steps: list[tuple[str, dict[str, str] | list[str]]] = [
        ("tag_single", {"A": "tag-a"}),
        ("tag_multiple", {"B": "tag-b", "C": "tag-c"}),
        ("tag_overlap", {"C": "tag-c-newsuffix", "D": "tag-d"}),
        ("untag_single", ["A"]),
        ("untag_multiple", ["B", "C"]),
        ("untag_nonexisting", ["F"]),
        ("untag_existing_and_nonexisting", ["D", "F"]),
    ]
    for key, change in steps:
        if isinstance(change, dict):
            got[f"{key}_response"] = lambda_client.tag_resource(Resource=arn, Tags=change)
        else:
            got[f"{key}_response"] = lambda_client.untag_resource(Resource=arn, TagKeys=change)
        got[f"{key}_response_listtags"] = lambda_client.list_tags(Resource=arn)
    assert_match(recorded(test_id), norm(got))


def test_create_tag_on_fn_create(lambda_client: Any) -> None:
    test_id = f"{TAG}::test_create_tag_on_fn_create"
    value = unique("tag-value")
    norm = Normaliser()
    norm.name(value, "<custom-tag>")
    name, arn = tagged_function(lambda_client, norm, Tags={"testtag": value})
    got = {
        "get_function_result": lambda_client.get_function(FunctionName=name),
        "list_tags_result": lambda_client.list_tags(Resource=arn),
    }
    assert_match(recorded(test_id), norm(got))


def not_found_tag_calls(client: Any, resource: str) -> dict[str, Any]:
    """TagResource, UntagResource and ListTags of a resource that does not exist."""
    return {
        "not_found_exception_tag": call(client.tag_resource, Resource=resource, Tags={"a": "b"}),
        "not_found_exception_untag": call(client.untag_resource, Resource=resource, TagKeys=["a"]),
        "not_found_exception_list": call(client.list_tags, Resource=resource),
    }


def test_tag_nonexisting_resource(lambda_client: Any) -> None:
    test_id = f"{TAG}::test_tag_nonexisting_resource"
    norm = Normaliser()
    name, arn = tagged_function(lambda_client, norm)
    got = {"pre_delete_get_function": lambda_client.get_function(FunctionName=name)}
    lambda_client.delete_function(FunctionName=name)
    got.update(not_found_tag_calls(lambda_client, arn))
    assert_match(recorded(test_id), norm(got))


@pytest.mark.parametrize(
    ("resource_type", "kind", "identifier"),
    [
        pytest.param("lambda_function", "function", unique("fn-missing"), id="lambda_function"),
        pytest.param(
            "event_source_mapping",
            "event-source-mapping",
            str(uuid.uuid4()),
            id="event_source_mapping",
        ),
        pytest.param(
            "capacity_provider", "capacity-provider", unique("cp-missing"), id="capacity_provider"
        ),
    ],
)
def test_tag_exceptions_by_resource_type(
    lambda_client: Any, resource_type: str, kind: str, identifier: str
) -> None:
    """TestLambdaTag::test_tag_exceptions[...]: a resource that does not exist, the same ARN
    with a qualifier (refused before the look-up: for a function as an alias, for the others
    by the pattern), and an ARN of an unknown resource type."""
    test_id = f"{TAG}::test_tag_exceptions[{resource_type}]"
    norm = Normaliser()
    norm.name(identifier, "<resource-name>")
    resource = f"{LAMBDA_ARN}:{kind}:{identifier}"
    got = not_found_tag_calls(lambda_client, resource)
    got["aliased_arn_exception"] = call(
        lambda_client.tag_resource, Resource=f"{resource}:alias", Tags={"a": "b"}
    )
    got["invalid_arn_exception"] = call(
        lambda_client.tag_resource, Resource=f"{LAMBDA_ARN}:foobar:{identifier}", Tags={"a": "b"}
    )
    expected, actual = recorded(test_id), norm(got)
    pattern_keys = ["invalid_arn_exception"]
    if kind != "function":
        pattern_keys.append("aliased_arn_exception")
    resource_patterns(expected, actual, *pattern_keys)
    assert_match(expected, actual)


# -- not recorded: ARNs of another account or region ---------------------------------------------
# The recordings hold no tag call on another account's or region's ARN. lambox answers them as
# it answers the recorded function calls: another account is refused before any look-up
# (CreateFunction's recorded AccessDeniedException), another region is not reachable here
# (GetFunction's recorded ResourceNotFoundException). Either way lambox's own function of that
# name is left alone.


@pytest.mark.parametrize(
    ("arn_prefix", "status", "code"),
    [
        pytest.param(
            f"arn:aws:lambda:{LAMBOX_REGION}:123456789012",
            403,
            "AccessDeniedException",
            id="other_account",
        ),
        pytest.param(
            f"arn:aws:lambda:eu-central-1:{LAMBOX_ACCOUNT}",
            404,
            "ResourceNotFoundException",
            id="other_region",
        ),
    ],
)
def test_tag_calls_on_foreign_arns(
    lambda_client: Any, arn_prefix: str, status: int, code: str
) -> None:
    name, own = tagged_function(lambda_client, Normaliser(), Tags={"kept": "yes"})
    foreign = f"{arn_prefix}:function:{name}"
    answers = {
        "tag": call(lambda_client.tag_resource, Resource=foreign, Tags={"added": "no"}),
        "untag": call(lambda_client.untag_resource, Resource=foreign, TagKeys=["kept"]),
        "list": call(lambda_client.list_tags, Resource=foreign),
    }
    for operation, answer in answers.items():
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == status, (operation, answer)
        assert answer["Error"]["Code"] == code, (operation, answer)
    assert lambda_client.list_tags(Resource=own)["Tags"] == {"kept": "yes"}
