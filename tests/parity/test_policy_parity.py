"""Resource policies against AWS's recorded answers (permissions-urls-tags:
TestLambdaPermissions): AddPermission, GetPolicy and RemovePermission on functions, versions
and aliases, their statements, their RevisionIds and their errors.

Each test replays the calls of one recorded test against lambox and compares the normalised
responses with the recording (``tests/parity/snapshot.py``); GetPolicy's ``Policy`` and
AddPermission's ``Statement`` are JSON text, compared parsed as the recordings hold them.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import unique
from tests.parity.snapshot import (
    LAMBOX_ACCOUNT,
    Normaliser,
    assert_match,
    call,
    create_function,
    recorded,
)

PERMISSIONS = "tests/aws/services/lambda_/test_lambda_api.py::TestLambdaPermissions"
BUCKET = "test-bucket"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
USER_ARN = f"arn:aws:iam::{LAMBOX_ACCOUNT}:user/lambox-test"
S3 = {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"}


def new_function(client: Any, norm: Normaliser, placeholder: str | None = None) -> str:
    """A new Active function whose name the normaliser replaces with ``placeholder`` (a
    numbered function name when None), and the bucket of the recorded SourceArns."""
    name = unique("lambda_func")
    norm.name(name, placeholder)
    norm.name(BUCKET, "<resource:90>")
    create_function(client, name)
    return name


def test_permission_exceptions(lambda_client: Any) -> None:
    norm = Normaliser()
    name = new_function(lambda_client, norm, "<function-name>")
    add, remove = lambda_client.add_permission, lambda_client.remove_permission
    got: dict[str, Any] = {}
    got["add_permission_invalid_statement_id"] = call(
        add, FunctionName=name, StatementId="example.com", **S3
    )
    got["add_permission_fn_qualifier_mismatch"] = call(
        add,
        FunctionName=f"{name}:alias-not-42",
        StatementId="s3",
        SourceArn=BUCKET_ARN,
        Qualifier="42",
        **S3,
    )
    got["add_permission_fn_qualifier_latest"] = call(
        add,
        FunctionName=f"{name}:$LATEST",
        StatementId="s3",
        SourceArn=BUCKET_ARN,
        Qualifier="$LATEST",
        **S3,
    )
    got["add_permission_principal_invalid"] = call(
        add,
        FunctionName=name,
        Action="lambda:InvokeFunction",
        StatementId="lambda",
        Principal="invalid.nonaws.com",
        SourceAccount=LAMBOX_ACCOUNT,
    )
    got["get_policy_fn_doesnotexist"] = call(lambda_client.get_policy, FunctionName="doesnotexist")
    got["get_policy_fn_version_doesnotexist"] = call(
        lambda_client.get_policy, FunctionName=name, Qualifier="77"
    )
    got["add_permission_fn_doesnotexist"] = call(
        add, FunctionName="doesnotexist", StatementId="s3", SourceArn=BUCKET_ARN, **S3
    )
    got["remove_permission_policy_doesnotexist"] = call(remove, FunctionName=name, StatementId="s3")
    got["add_permission_fn_alias_doesnotexist"] = call(
        add, FunctionName=f"{name}:alias-doesnotexist", StatementId="s3", SourceArn=BUCKET_ARN, **S3
    )
    got["add_permission_fn_version_doesnotexist"] = call(
        add, FunctionName=name, StatementId="s3", SourceArn=BUCKET_ARN, Qualifier="42", **S3
    )
    got["add_permission_fn_qualifier_invalid"] = call(
        add,
        FunctionName=name,
        StatementId="s3",
        SourceArn=BUCKET_ARN,
        Qualifier="invalid-qualifier-with-?-char",
        **S3,
    )
    got["add_permission_fn_qualifier_valid_doesnotexist"] = call(
        add,
        FunctionName=name,
        StatementId="s3",
        SourceArn=BUCKET_ARN,
        Qualifier="valid-with-$-but-doesnotexist",
        **S3,
    )
    add(FunctionName=name, StatementId="s3", SourceArn=BUCKET_ARN, **S3)
    got["add_permission_conflicting_statement_id"] = call(
        add, FunctionName=name, StatementId="s3", SourceArn=BUCKET_ARN, **S3
    )
    got["remove_permission_fn_doesnotexist"] = call(
        remove, FunctionName="doesnotexist", StatementId="s3"
    )
    got["remove_permission_fn_alias_doesnotexist"] = call(
        remove, FunctionName=name, StatementId="s3", Qualifier="alias-doesnotexist"
    )
    assert_match(recorded(f"{PERMISSIONS}::test_permission_exceptions"), norm(got))


def test_add_lambda_permission_aws(lambda_client: Any) -> None:
    norm = Normaliser()
    name = unique("lambda_func")
    norm.name(name)
    norm.name(BUCKET, "<resource:90>")
    got: dict[str, Any] = {"create_lambda": create_function(lambda_client, name)}
    got["add_permission"] = lambda_client.add_permission(
        FunctionName=name, StatementId="s3", SourceArn=BUCKET_ARN, **S3
    )
    got["get_policy"] = lambda_client.get_policy(FunctionName=name)
    assert_match(recorded(f"{PERMISSIONS}::test_add_lambda_permission_aws"), norm(got))


def test_remove_multi_permissions(lambda_client: Any) -> None:
    """Statements come out in the order they went in; the last removal deletes the policy;
    RemovePermission with the policy's RevisionId passes."""
    norm = Normaliser()
    name = new_function(lambda_client, norm, "<resource:91>")
    add, get = lambda_client.add_permission, lambda_client.get_policy
    got: dict[str, Any] = {}
    got["add_permission_1"] = add(FunctionName=name, StatementId="s3", **S3)
    got["add_permission_2"] = add(
        FunctionName=name,
        Action="lambda:InvokeFunction",
        StatementId="sqs",
        Principal="sqs.amazonaws.com",
        SourceArn=BUCKET_ARN,
    )
    got["policy_after_2_add"] = get(FunctionName=name)
    got["remove_permission_exception_nonexisting_sid"] = call(
        lambda_client.remove_permission, FunctionName=name, StatementId="non-existent"
    )
    lambda_client.remove_permission(FunctionName=name, StatementId="sqs")
    got["policy_after_removal"] = get(FunctionName=name)
    got["policy_after_removal_attempt"] = get(FunctionName=name)
    lambda_client.remove_permission(
        FunctionName=name,
        StatementId="s3",
        RevisionId=got["policy_after_removal_attempt"]["RevisionId"],
    )
    got["get_policy_exception_removed_all"] = call(get, FunctionName=name)
    assert_match(recorded(f"{PERMISSIONS}::test_remove_multi_permissions"), norm(got))


def test_create_multiple_lambda_permissions(lambda_client: Any) -> None:
    norm = Normaliser()
    name = new_function(lambda_client, norm, "<resource:91>")
    got: dict[str, Any] = {}
    for key, service in (
        ("add_permission_response_1", "logs"),
        ("add_permission_response_2", "kinesis"),
    ):
        got[key] = lambda_client.add_permission(
            FunctionName=name,
            Action="lambda:InvokeFunction",
            StatementId=service,
            Principal=f"{service}.amazonaws.com",
        )
    got["policy_after_2_add"] = lambda_client.get_policy(FunctionName=name)
    assert_match(recorded(f"{PERMISSIONS}::test_create_multiple_lambda_permissions"), norm(got))


def test_add_lambda_permission_fields(lambda_client: Any) -> None:
    """Every kind of principal and every optional condition, written as AWS writes them."""
    norm = Normaliser(
        regexes=[
            (rf"^{USER_ARN}$", "<user_arn>"),
            (rf"(?<=:iam::{LAMBOX_ACCOUNT}:)root\b", "<resource:92>"),
        ]
    )
    name = new_function(lambda_client, norm, "<resource:91>")
    add = lambda_client.add_permission
    invoke = {"FunctionName": name, "Action": "lambda:InvokeFunction"}
    got: dict[str, Any] = {}
    got["add_permission_principal_wildcard"] = add(
        **invoke, StatementId="wilcard", Principal="*", SourceAccount=LAMBOX_ACCOUNT
    )
    got["add_permission_principal_service"] = add(
        **invoke,
        StatementId="lambda",
        Principal="lambda.amazonaws.com",
        SourceAccount=LAMBOX_ACCOUNT,
    )
    got["add_permission_principal_account"] = add(
        **invoke, StatementId="account-id", Principal=LAMBOX_ACCOUNT
    )
    got["add_permission_principal_arn"] = add(
        **invoke, StatementId="user-arn", Principal=USER_ARN, SourceAccount=LAMBOX_ACCOUNT
    )
    got["add_permission_optional_fields"] = add(
        FunctionName=name,
        StatementId="urlPermission",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        SourceArn=BUCKET_ARN,
        SourceAccount=LAMBOX_ACCOUNT,
        PrincipalOrgID="o-1234567890",
        FunctionUrlAuthType="NONE",
    )
    got["add_permission_alexa_skill"] = add(
        **invoke,
        StatementId="alexaSkill",
        Principal="*",
        EventSourceToken="amzn1.ask.skill.xxxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    )
    assert_match(recorded(f"{PERMISSIONS}::test_add_lambda_permission_fields"), norm(got))


def test_lambda_permission_fn_versioning(lambda_client: Any) -> None:
    """A policy per qualifier: the function's does not cover its versions or aliases; an
    alias's first permission checks the alias's RevisionId, a later one the policy's."""
    norm = Normaliser()
    name = new_function(lambda_client, norm)
    add, get = lambda_client.add_permission, lambda_client.get_policy
    s3 = {"StatementId": "s3", "SourceArn": BUCKET_ARN, **S3}
    got: dict[str, Any] = {}
    got["add_permission"] = add(FunctionName=name, **s3)
    got["get_policy"] = get(FunctionName=name)
    got["publish_version_result"] = lambda_client.publish_version(FunctionName=name)
    version = got["publish_version_result"]["Version"]
    got["get_function_result_after_publishing"] = lambda_client.get_function(FunctionName=name)
    got["get_policy_after_publishing_latest"] = get(FunctionName=name)
    got["get_policy_after_publishing_new_version"] = call(get, FunctionName=name, Qualifier=version)
    add(FunctionName=f"{name}:{version}", Qualifier=version, **s3)
    got["get_policy_version"] = get(FunctionName=name, Qualifier=version)
    alias = "permission-alias"
    got["create_alias_response"] = lambda_client.create_alias(
        FunctionName=name, Name=alias, FunctionVersion=version
    )
    got["get_alias"] = lambda_client.get_alias(FunctionName=name, Name=alias)
    got["add_permission_alias_revision_exception"] = call(
        add, FunctionName=name, Qualifier=alias, RevisionId="wrong", **s3
    )
    add(
        FunctionName=f"{name}:{alias}",
        Qualifier=alias,
        RevisionId=got["create_alias_response"]["RevisionId"],
        **s3,
    )
    got["get_policy_alias"] = get(FunctionName=name, Qualifier=alias)
    got["get_policy_after_adding_to_new_version"] = get(FunctionName=name)
    add(
        FunctionName=name,
        RevisionId=got["get_policy_after_adding_to_new_version"]["RevisionId"],
        **{**s3, "StatementId": "s3_2"},
    )
    got["get_policy_after_adding_2"] = get(FunctionName=name)
    assert_match(recorded(f"{PERMISSIONS}::test_lambda_permission_fn_versioning"), norm(got))
