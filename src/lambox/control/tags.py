"""Tagging: which function a TagResource / UntagResource / ListTags ARN names, and tag limits.

AWS answers a tag request in this order (recorded in ``permissions-urls-tags``, the
``TestLambdaTags`` and ``TestLambdaTag`` tests):

1. the model's ``TaggableResource`` pattern (``shapes.validate``): anything but a full ARN of
   a function, event source mapping, code signing config, capacity provider or network
   connector is a ValidationException quoting the pattern, and so is a qualified ARN of
   anything but a function;
2. a qualified function ARN (``:1``, ``:$LATEST``, ``:alias``) is InvalidParameterValueException,
   before AWS looks the function up (recorded with an alias that does not exist);
3. the resource is looked up: ResourceNotFoundException worded per resource type.

lambox has functions only, so every ARN of another resource type names nothing it has.
An ARN of another account is refused as CreateFunction refuses one (authorization comes
before any look-up); one of another region is not reachable here, as for GetFunction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lambox.arns import Arns
from lambox.errors import AccessDenied, InvalidParameterValue, ResourceNotFound

MAX_TAGS = 50
"""Tags on one resource (recorded: 50 pass, a 51st is refused on TagResource and on
CreateFunction)."""

_RESOURCE = re.compile(
    r"arn:[^:]+:lambda:(?P<region>[^:]+):(?P<account>\d{12}):(?P<kind>[a-z-]+):(?P<id>[^:]+)"
    r"(:(?P<qualifier>.+))?"
)
"""The parts of an ARN that already matched the model's ``TaggableResource`` pattern."""

_NOT_FOUND = {
    # Recorded (TestLambdaTag::test_tag_exceptions[event_source_mapping|capacity_provider]).
    "event-source-mapping": "Event source mapping not found: {arn}",
    "capacity-provider": "Capacity provider not found: {arn}",
    # Not recorded for tags: the wording AWS uses for a missing code signing config
    # elsewhere (GetCodeSigningConfig), and the capacity provider's for network connectors.
    "code-signing-config": "The Lambda code signing configuration {arn} can not be found.",
    "network-connector": "Network connector not found: {arn}",
}


def function_name(resource: str, arns: Arns) -> str:
    """The name of the function a taggable resource ARN names, or AWS's error for an ARN that
    names no function lambox could have. ``resource`` has passed the model's pattern."""
    m = _RESOURCE.fullmatch(resource)
    if m is None:  # the model's pattern admits nothing else; kept total for safety
        raise ResourceNotFound(f"Function not found: {resource}")
    if m["account"] != arns.account_id:
        raise AccessDenied()
    if m["qualifier"] is not None:
        raise InvalidParameterValue(
            "Tags on function aliases and versions are not supported. Please specify a"
            " function ARN."
        )
    if m["kind"] != "function":
        raise ResourceNotFound(_NOT_FOUND[m["kind"]].format(arn=resource))
    name, _ = arns.parse(resource)
    return name


def merged(current: Mapping[str, str], added: Mapping[str, str]) -> dict[str, str]:
    """The tags after TagResource adds ``added`` (a key already there takes the new value).

    An empty ``added`` passes the model (the ``Tags`` map has no minimum) but AWS refuses it
    with a generic message (recorded: ``tag_empty_tags``).
    """
    if not added:
        raise InvalidParameterValue("An error occurred and the request cannot be processed.")
    tags = {**current, **added}
    check_count(tags)
    return tags


def check_count(tags: Mapping[str, str]) -> None:
    """Refuse more than ``MAX_TAGS`` tags on one resource, in AWS's words."""
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue("Number of tags exceeds resource tag limit.")
