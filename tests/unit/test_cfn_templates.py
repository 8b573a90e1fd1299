"""CloudFormation templates: YAML's short tags, intrinsics, conditions and ordering."""

from __future__ import annotations

from typing import Any

import pytest

from lambox.errors import ServiceFault
from lambox.services.cloudformation import intrinsics
from lambox.services.cloudformation.engine import plan
from lambox.services.cloudformation.template import parse

PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "000000000000", "AWS::StackName": "st"}

YAML = """
Parameters:
  Env: {Type: String, Default: dev}
  Names: {Type: CommaDelimitedList, Default: "a,b"}
Conditions:
  Dev: !Equals [!Ref Env, dev]
  Both: !And [!Condition Dev, !Not [!Equals [!Ref Env, prod]]]
Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      Tags:
        - Key: k
          Value: !Sub "${Env}-${AWS::Region}-${!Literal}"
  A:
    Type: AWS::S3::Bucket
    DependsOn: B
    Properties:
      BucketName: !Join ["-", [!Select [1, !Ref Names], !GetAtt B.Arn]]
      Other: !If [Both, !Ref AWS::NoValue, "x"]
      Split: !Select [2, !Split [":", "a:b:c"]]
      Zone: !Select [0, !GetAZs ""]
"""


def test_yaml_short_tags_become_the_long_forms() -> None:
    template = parse(YAML)
    bucket = template["Resources"]["A"]["Properties"]
    assert bucket["BucketName"] == {
        "Fn::Join": ["-", [{"Fn::Select": [1, {"Ref": "Names"}]}, {"Fn::GetAtt": ["B", "Arn"]}]]
    }
    assert template["Conditions"]["Both"]["Fn::And"][0] == {"Condition": "Dev"}


def test_plan_orders_by_references_and_resolves_intrinsics() -> None:
    p = plan(parse(YAML), {}, PSEUDO)
    assert p.order == ["B", "A"]
    ctx = p.context
    assert ctx.conditions == {"Dev": True, "Both": True}
    ctx.resources["B"] = ("bucket-b", {"Arn": "arn:aws:s3:::bucket-b"})
    b = intrinsics.resolve(p.resources["B"]["Properties"], ctx)
    assert b["Tags"] == [{"Key": "k", "Value": "dev-eu-west-1-${Literal}"}]
    a = intrinsics.resolve(p.resources["A"]["Properties"], ctx)
    assert a == {
        "BucketName": "b-arn:aws:s3:::bucket-b",
        "Split": "c",
        "Zone": "eu-west-1a",
    }  # Other was AWS::NoValue: removed


def test_parameters_are_checked() -> None:
    template = parse(YAML.replace("Default: dev}", "AllowedValues: [dev, prod]}"))
    with pytest.raises(ServiceFault, match=r"Parameters: \[Env\] must have values"):
        plan(template, {}, PSEUDO)
    with pytest.raises(ServiceFault, match="must be one of AllowedValues"):
        plan(template, {"Env": "qa"}, PSEUDO)
    with pytest.raises(ServiceFault, match=r"Parameters: \[Nope\] do not exist"):
        plan(template, {"Env": "dev", "Nope": "1"}, PSEUDO)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"A": {"Type": "X", "Properties": {"P": {"Ref": "Ghost"}}}}, "[Ghost]"),
        (
            {
                "A": {"Type": "X", "Properties": {"P": {"Fn::Sub": "${B.Arn}"}}},
                "B": {"Type": "X", "Properties": {"P": {"Ref": "A"}}},
            },
            "Circular dependency between resources: [A, B]",
        ),
        ({"A": {"Properties": {}}}, "Every Resources object must contain a Type member"),
    ],
)
def test_template_errors(resources: dict[str, Any], message: str) -> None:
    with pytest.raises(ServiceFault) as exc:
        plan({"Resources": resources}, {}, PSEUDO)
    assert exc.value.aws_type == "ValidationError"
    assert message in exc.value.message


def test_find_in_map_and_unknown_attribute() -> None:
    ctx = intrinsics.Context(
        parameters={}, pseudo=PSEUDO, mappings={"M": {"eu-west-1": {"Ami": "ami-1"}}}
    )
    value = {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Ami"]}
    assert intrinsics.resolve(value, ctx) == "ami-1"
    ctx.resources["R"] = ("r", {"Arn": "a"})
    with pytest.raises(ServiceFault, match="does not support attribute type Nope"):
        intrinsics.resolve({"Fn::GetAtt": "R.Nope"}, ctx)
