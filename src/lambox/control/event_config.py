"""EventInvokeConfig: the asynchronous-invocation settings of a function, version or alias.

Put replaces a configuration (members left out are unset), Update changes only the members
it names. Both check, in AWS's order: the request against the model, that some setting is
given, the function (and qualifier) exists, then each destination. Messages are AWS's, as
recorded against real AWS (``async-eventinvokeconfig-destinations`` parity snapshot).

The data plane reads the configurations through ``lookup``, from memory: this service keeps
every configuration loaded, and is the only writer of the store.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.functions import FunctionService
from lambox.errors import InvalidParameterValue, LamboxError, ResourceNotFound
from lambox.model import LATEST
from lambox.store.event_configs import EventConfigStore, EventInvokeConfig
from lambox.watch import Change, Removed

DEFAULT_MAX_ITEMS = 50
_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
_NOT_YET = frozenset({"sqs", "sns", "events", "s3", "kafka"})


class EventConfigService:
    """Put/Update/Get/List/Delete of EventInvokeConfigs, and the in-memory view of them."""

    def __init__(self, store: EventConfigStore, functions: FunctionService, arns: Arns) -> None:
        self._store = store
        self._functions = functions
        self._arns = arns
        self._configs = {(c.function, c.qualifier): c for c in store.all()}

    def lookup(self, function: str, qualifier: str) -> EventInvokeConfig | None:
        """The configuration of ``function`` at ``qualifier`` ($LATEST, version or alias)."""
        return self._configs.get((function, qualifier))

    def on_change(self, change: Change) -> None:
        """Change-feed subscriber: a deleted function, version or alias loses its config."""
        if not isinstance(change, Removed):
            return
        if change.qualifier is None:
            self._store.delete_function(change.name)
            for key in [k for k in self._configs if k[0] == change.name]:
                del self._configs[key]
        else:
            self._store.delete(change.name, change.qualifier)
            self._configs.pop((change.name, change.qualifier), None)

    def close(self) -> None:
        """Release the store; nothing may be called after."""
        self._store.close()

    # -- operations -----------------------------------------------------------------------

    def put(
        self, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> EventInvokeConfig:
        name, key = self._target("PutFunctionEventInvokeConfig", function_name, qualifier, params)
        on_success, on_failure = self._destinations(name, params.get("DestinationConfig"))
        config = EventInvokeConfig(
            function=name,
            qualifier=key,
            last_modified=time.time(),
            maximum_retry_attempts=params.get("MaximumRetryAttempts"),
            maximum_event_age=params.get("MaximumEventAgeInSeconds"),
            on_success=on_success,
            on_failure=on_failure,
        )
        return self._save(config)

    def update(
        self, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> EventInvokeConfig:
        op = "UpdateFunctionEventInvokeConfig"
        name, key = self._target(op, function_name, qualifier, params)
        current = self._configs.get((name, key))
        if current is None:
            raise self._missing(name, key)
        destination_config = params.get("DestinationConfig")
        on_success, on_failure = self._destinations(name, destination_config)
        given = destination_config or {}
        config = EventInvokeConfig(
            function=name,
            qualifier=key,
            last_modified=time.time(),
            maximum_retry_attempts=params.get(
                "MaximumRetryAttempts", current.maximum_retry_attempts
            ),
            maximum_event_age=params.get("MaximumEventAgeInSeconds", current.maximum_event_age),
            on_success=on_success if "OnSuccess" in given else current.on_success,
            on_failure=on_failure if "OnFailure" in given else current.on_failure,
        )
        return self._save(config)

    def get(self, function_name: str, qualifier: str | None) -> EventInvokeConfig:
        shapes.validate(
            "GetFunctionEventInvokeConfig", {"FunctionName": function_name, "Qualifier": qualifier}
        )
        name, key = self._key(function_name, qualifier)
        config = self._configs.get((name, key))
        if config is None:
            raise self._missing(name, key)
        return config

    def list_page(
        self, function_name: str, marker: str | None, max_items: str | int | None
    ) -> tuple[list[EventInvokeConfig], str | None]:
        """One page of the function's configurations, ordered by qualifier."""
        shapes.validate(
            "ListFunctionEventInvokeConfigs",
            {"FunctionName": function_name, "Marker": marker, "MaxItems": max_items},
        )
        name, _ = self._arns.parse(function_name)
        self._exists(name, None)
        limit = int(max_items) if max_items else DEFAULT_MAX_ITEMS
        configs = sorted(
            (c for (fn, _), c in self._configs.items() if fn == name), key=lambda c: c.qualifier
        )
        if marker:
            after = _unmark(marker)
            configs = [c for c in configs if c.qualifier > after]
        page = configs[:limit]
        more = len(configs) > limit
        return page, (_mark(page[-1].qualifier) if more and page else None)

    def delete(self, function_name: str, qualifier: str | None) -> None:
        shapes.validate(
            "DeleteFunctionEventInvokeConfig",
            {"FunctionName": function_name, "Qualifier": qualifier},
        )
        name, key = self._key(function_name, qualifier)
        if (name, key) not in self._configs:
            raise self._missing(name, key)
        self._store.delete(name, key)
        del self._configs[(name, key)]

    # -- internals ------------------------------------------------------------------------

    def _save(self, config: EventInvokeConfig) -> EventInvokeConfig:
        self._store.put(config)
        self._configs[(config.function, config.qualifier)] = config
        return config

    def _key(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        name, qualifier = self._arns.parse(function_name, qualifier)
        return name, qualifier or LATEST

    def _target(
        self, operation: str, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> tuple[str, str]:
        """Validate a Put/Update and return the (function, qualifier) it configures."""
        shapes.validate(
            operation, {**params, "FunctionName": function_name, "Qualifier": qualifier}
        )
        if not any(params.get(member) is not None for member in _SETTINGS):
            raise InvalidParameterValue(
                "You must specify at least one of error handling or destination setting."
            )
        name, parsed = self._arns.parse(function_name, qualifier)
        self._exists(name, parsed)
        return name, parsed or LATEST

    def _exists(self, name: str, qualifier: str | None) -> None:
        try:
            self._functions.get(name, qualifier)
        except ResourceNotFound as exc:
            raise ResourceNotFound("The function doesn't exist.") from exc

    def _destinations(self, name: str, config: Any) -> tuple[str | None, str | None]:
        """(OnSuccess, OnFailure) destination ARNs of a DestinationConfig, each checked."""
        config = config or {}
        found = []
        for member in ("OnSuccess", "OnFailure"):
            arn = (config.get(member) or {}).get("Destination") or None
            if arn is not None:
                self._check_destination(name, arn, config)
            found.append(arn)
        return found[0], found[1]

    def _check_destination(self, name: str, arn: str, config: Mapping[str, Any]) -> None:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "lambda":
            try:
                target, qualifier = self._arns.parse(arn)
            except LamboxError as exc:
                raise InvalidParameterValue(f"The destination ARN {arn} is invalid.") from exc
            if target == name:
                raise InvalidParameterValue(
                    "You can't specify the function as a destination for itself."
                )
            try:
                self._functions.get(target, qualifier)
            except ResourceNotFound as exc:
                raise InvalidParameterValue(f"The destination ARN {arn} is invalid.") from exc
        elif service in _NOT_YET:
            raise InvalidParameterValue(
                f"lambox cannot deliver to {service} destinations yet: use the ARN of a lambox"
                f" function as the destination (got {arn})."
            )
        else:
            raise InvalidParameterValue(
                f"The provided destination config {_java_destination_config(config)} is invalid."
            )

    def _missing(self, name: str, qualifier: str) -> ResourceNotFound:
        arn = self._arns.function(name, qualifier)
        return ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")


def _java_destination_config(config: Mapping[str, Any]) -> str:
    """The DestinationConfig as AWS's Java model prints it in its error message."""

    def part(member: str) -> str:
        value = config.get(member)
        if value is None:
            return "null"
        destination = value.get("Destination")
        return f"{member}(destination={'null' if destination is None else destination})"

    return f"DestinationConfig(onSuccess={part('OnSuccess')}, onFailure={part('OnFailure')})"


def _mark(qualifier: str) -> str:
    return base64.urlsafe_b64encode(qualifier.encode()).decode()


def _unmark(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameterValue("Invalid Marker.") from exc
