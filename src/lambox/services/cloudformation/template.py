"""Reading a template: JSON or YAML (with CloudFormation's short intrinsic tags), and the
``AWS::Serverless-2016-10-31`` transform through aws-sam-translator, the library SAM uses.

Every problem with the text is CloudFormation's ``ValidationError`` with a message saying
what is wrong, never an internal error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from lambox.errors import ServiceFault

SERVERLESS = "AWS::Serverless-2016-10-31"


def validation(message: str) -> ServiceFault:
    return ServiceFault("ValidationError", message, 400)


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that reads ``!Ref x`` as ``{"Ref": x}`` and ``!Sub ...`` as
    ``{"Fn::Sub": ...}``; ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``."""


def _construct(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_Loader.add_multi_constructor("!", _construct)


def parse(body: str) -> dict[str, Any]:
    """The template as a dict; JSON first (it is also YAML, but faster and exact)."""
    text = body.strip()
    if not text:
        raise validation("Template format error: template body is empty")
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise validation(f"Template format error: YAML not well-formed. {exc}") from exc
    if not isinstance(data, dict):
        raise validation("Template format error: JSON not well-formed.")
    if not isinstance(data.get("Resources"), dict) or not data["Resources"]:
        raise validation("Template format error: At least one Resources member must be defined.")
    return dict(_plain(data))


def _plain(value: Any) -> Any:
    """YAML may give dates and other types; CloudFormation sees strings, numbers, lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def transforms(template: Mapping[str, Any]) -> list[str]:
    declared = template.get("Transform")
    if declared is None:
        return []
    return [str(t) for t in declared] if isinstance(declared, list) else [str(declared)]


def expand(
    template: dict[str, Any], parameters: Mapping[str, str], region: str, account: str
) -> dict[str, Any]:
    """Apply the template's transforms; lambox knows only the Serverless one."""
    names = transforms(template)
    unknown = [n for n in names if n != SERVERLESS]
    if unknown:
        raise validation(f"lambox does not serve the transform {unknown[0]}")
    if not names:
        return template
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    session = boto3.session.Session(
        region_name=region, aws_access_key_id="lambox", aws_secret_access_key="lambox"
    )
    translator = Translator(None, Parser(), boto_session=session)
    values: dict[str, Any] = {"AWS::AccountId": account, **parameters}
    try:
        expanded = translator.translate(
            json.loads(json.dumps(template)),
            parameter_values=values,
            get_managed_policy_map=_managed_policies,
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in exc.causes)
        raise validation(f"Transform {SERVERLESS} failed with: {causes}") from exc
    except Exception as exc:  # the translator's own errors are many and untyped
        raise validation(f"Transform {SERVERLESS} failed with: {exc}") from exc
    return dict(expanded)


def _managed_policies() -> dict[str, str]:
    """Managed policy names a SAM ``Policies`` list may use, as ARNs (those lambox's IAM
    does not know are skipped with a warning by ``AWS::IAM::Role``)."""
    names = (
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaBasicDurableExecutionRolePolicy",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSLambdaExecute",
        "AWSLambdaRole",
        "AmazonS3ReadOnlyAccess",
        "AmazonS3FullAccess",
        "AmazonSQSFullAccess",
        "AmazonDynamoDBFullAccess",
        "AWSXrayWriteOnlyAccess",
    )
    service_role = {
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaBasicDurableExecutionRolePolicy",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSLambdaRole",
    }
    return {
        n: f"arn:aws:iam::aws:policy/{'service-role/' if n in service_role else ''}{n}"
        for n in names
    }


_IAM_NAMES = ("RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName")


def required_capabilities(
    original: Mapping[str, Any], expanded: Mapping[str, Any], change_set: bool
) -> list[str]:
    """The capabilities a request must acknowledge, as CloudFormation asks for them: IAM
    resources (CAPABILITY_NAMED_IAM when they are named), and a transform in a template
    deployed directly rather than through a change set (CAPABILITY_AUTO_EXPAND)."""
    needed = []
    iam = [
        r
        for r in (expanded.get("Resources") or {}).values()
        if isinstance(r, dict) and str(r.get("Type", "")).startswith("AWS::IAM::")
    ]
    if any(any(k in (r.get("Properties") or {}) for k in _IAM_NAMES) for r in iam):
        needed.append("CAPABILITY_NAMED_IAM")
    elif iam:
        needed.append("CAPABILITY_IAM")
    if transforms(original) and not change_set:
        needed.append("CAPABILITY_AUTO_EXPAND")
    return needed


def check_capabilities(
    original: Mapping[str, Any],
    expanded: Mapping[str, Any],
    given: list[str],
    change_set: bool,
) -> None:
    """InsufficientCapabilitiesException unless ``given`` acknowledges what is needed
    (CAPABILITY_NAMED_IAM covers CAPABILITY_IAM)."""
    granted = set(given)
    if "CAPABILITY_NAMED_IAM" in granted:
        granted.add("CAPABILITY_IAM")
    missing = [c for c in required_capabilities(original, expanded, change_set) if c not in granted]
    if missing:
        raise ServiceFault(
            "InsufficientCapabilitiesException", f"Requires capabilities : [{missing[0]}]", 400
        )
