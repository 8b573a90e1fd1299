"""Reserved and provisioned concurrency: validation against the account pool, and the
``Limits`` snapshot the data plane enforces.

The account pool is ``Settings.concurrency_limit``; reservations may not leave fewer than
``MIN_UNRESERVED`` executions to the other functions (AWS's minimum of 100, scaled down for
small pools). Provisioned concurrency on an alias is attributed to the version it points to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes, tenancy
from lambox.control.functions import FunctionService, now_iso
from lambox.errors import (
    InvalidParameterValue,
    ProvisionedConfigNotFound,
    ResourceConflict,
    ResourceNotFound,
)
from lambox.model import LATEST, Limits, ProvisionedConfig, frozen_map
from lambox.store.functions import FunctionStore
from lambox.watch import ChangeFeed

MIN_UNRESERVED = 100


class ConcurrencyService:
    """PutFunctionConcurrency & co., and the provisioned-concurrency configurations."""

    def __init__(
        self,
        store: FunctionStore,
        feed: ChangeFeed,
        functions: FunctionService,
        arns: Arns,
        account_limit: int,
        ceilings: Callable[[str], Mapping[str, int]] = lambda _name: {},
    ) -> None:
        self._store = store
        self._feed = feed
        self._functions = functions
        self._arns = arns
        self.account_limit = account_limit
        # A function's per-version concurrency caps (its scaling configs), see control.capacity.
        self._ceilings = ceilings
        self.min_unreserved = min(MIN_UNRESERVED, account_limit // 10)

    def unreserved(self, excluding: str | None = None) -> int:
        reserved = self._store.all_reserved()
        return self.account_limit - sum(v for k, v in reserved.items() if k != excluding)

    def restore(self) -> None:
        """Publish the limits of the functions that have any: a function without reserved
        or provisioned concurrency has the default limits, which need no publishing (two
        queries per deployed function made start-up grow with their number)."""
        names = set(self._store.all_reserved())
        names.update(pc.function for pc in self._store.list_provisioned())
        for name in sorted(names):
            self.publish_limits(name)

    def limits(self, name: str) -> Limits:
        provisioned: dict[str, int] = {}
        for pc in self._store.list_provisioned(name):
            version = self._version_of(name, pc.qualifier)
            if version is not None:
                provisioned[version] = provisioned.get(version, 0) + pc.requested
        return Limits(
            name,
            self._store.get_reserved(name),
            frozen_map(provisioned),
            frozen_map(dict(self._ceilings(name))),
        )

    def publish_limits(self, name: str) -> None:
        limits = self.limits(name)
        if limits.provisioned:
            # Provisioned sandboxes start from the versions' snapshots: hand them over first.
            self._functions.load(name)
        self._feed.publish(limits)

    # -- reserved --------------------------------------------------------------------------

    def _unqualified(self, operation: str, function_name: str) -> str:
        shapes.validate_address(operation, {"FunctionName": function_name})
        name, qualifier = self._arns.parse(function_name)
        if qualifier:
            raise InvalidParameterValue(
                "This operation is permitted on Lambda functions only. Aliases and versions do"
                " not support this operation. Please specify either a function name or an"
                " unqualified function ARN."
            )
        if self._store.get(name, LATEST) is None:
            raise ResourceNotFound(f"Function not found: {self._arns.function(name, LATEST)}")
        return name

    def put_reserved(self, function_name: str, params: Mapping[str, Any]) -> int:
        name = self._unqualified("PutFunctionConcurrency", function_name)
        shapes.validate("PutFunctionConcurrency", {"FunctionName": function_name, **params})
        value = int(params["ReservedConcurrentExecutions"])
        if self.unreserved(excluding=name) - value < self.min_unreserved:
            raise InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's"
                f" UnreservedConcurrentExecution below its minimum value of"
                f" [{self.min_unreserved}]."
            )
        provisioned = sum(pc.requested for pc in self._store.list_provisioned(name))
        if value < provisioned:
            raise InvalidParameterValue(
                f" ReservedConcurrentExecutions  {value} should not be lower than function's"
                f" total provisioned concurrency [{provisioned}]."
            )
        self._store.set_reserved(name, value)
        self.publish_limits(name)
        return value

    def get_reserved(self, function_name: str) -> int | None:
        return self._store.get_reserved(self._unqualified("GetFunctionConcurrency", function_name))

    def delete_reserved(self, function_name: str) -> None:
        name = self._unqualified("DeleteFunctionConcurrency", function_name)
        self._store.set_reserved(name, None)
        self.publish_limits(name)

    # -- provisioned -----------------------------------------------------------------------

    def _version_of(self, name: str, qualifier: str) -> str | None:
        if qualifier.isdigit():
            return qualifier
        alias = self._store.get_alias(name, qualifier)
        return alias.function_version if alias else None

    def _target(
        self, function_name: str, qualifier: str | None, unpublished: str
    ) -> tuple[str, str]:
        """(name, qualifier) of an existing alias or published version, or AWS's error."""
        name, qualifier = self._arns.parse(function_name, qualifier)
        if not qualifier or qualifier == LATEST:
            raise InvalidParameterValue(unpublished)
        if qualifier.isdigit():
            if self._store.get(name, qualifier) is None:
                raise ResourceNotFound(
                    f"Function not found: {self._arns.function(name, qualifier)}"
                )
        elif self._store.get_alias(name, qualifier) is None:
            raise ResourceNotFound(f"Cannot find alias arn: {self._arns.function(name, qualifier)}")
        return name, qualifier

    def put_provisioned(
        self, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> ProvisionedConfig:
        shapes.validate(
            "PutProvisionedConcurrencyConfig",
            {"FunctionName": function_name, "Qualifier": qualifier, **params},
        )
        name, qualifier = self._target(
            function_name,
            qualifier,
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )
        latest = self._store.get(name, LATEST)
        if latest is not None:
            tenancy.refuse(latest, tenancy.PROVISIONED)
        requested = int(params["ProvisionedConcurrentExecutions"])
        version = self._version_of(name, qualifier)
        others = [pc for pc in self._store.list_provisioned(name) if pc.qualifier != qualifier]
        for pc in others:
            if self._version_of(name, pc.qualifier) == version:
                if qualifier.isdigit():
                    raise ResourceConflict("Version is pointed by a Provisioned Concurrency alias")
                raise ResourceConflict(
                    "Alias can't be used for Provisioned Concurrency configuration on an already"
                    " Provisioned version"
                )
        reserved = self._store.get_reserved(name)
        total = requested + sum(pc.requested for pc in others)
        if reserved is not None and total > reserved:
            raise InvalidParameterValue(
                "Requested Provisioned Concurrency should not be greater than the"
                " reservedConcurrentExecution for function"
            )
        if reserved is None:
            available = self.unreserved()
            if requested > available:
                raise InvalidParameterValue(
                    "Specified ConcurrentExecutions for function is greater than account's"
                    f" unreserved concurrency [{available}]."
                )
            if available - total < self.min_unreserved:
                raise InvalidParameterValue(
                    "Specified ConcurrentExecutions for function decreases account's"
                    " UnreservedConcurrentExecution below its minimum value of"
                    f" [{self.min_unreserved}]."
                )
        config = ProvisionedConfig(name, qualifier, requested, now_iso())
        self._store.put_provisioned(config)
        self.publish_limits(name)
        return config

    def get_provisioned(self, function_name: str, qualifier: str | None) -> ProvisionedConfig:
        shapes.validate(
            "GetProvisionedConcurrencyConfig",
            {"FunctionName": function_name, "Qualifier": qualifier},
        )
        name, qualifier = self._target(
            function_name,
            qualifier,
            "The function resource provided must be an alias or a published version.",
        )
        config = self._store.get_provisioned(name, qualifier)
        if config is None:
            raise ProvisionedConfigNotFound(
                "No Provisioned Concurrency Config found for this function"
            )
        return config

    def list_provisioned(self, function_name: str) -> list[ProvisionedConfig]:
        shapes.validate("ListProvisionedConcurrencyConfigs", {"FunctionName": function_name})
        name = self._functions.get(function_name).name
        return self._store.list_provisioned(name)

    def delete_provisioned(self, function_name: str, qualifier: str | None) -> None:
        shapes.validate(
            "DeleteProvisionedConcurrencyConfig",
            {"FunctionName": function_name, "Qualifier": qualifier},
        )
        name, qualifier = self._target(
            function_name,
            qualifier,
            "The function resource provided must be an alias or a published version.",
        )
        self._store.delete_provisioned(name, qualifier)
        self.publish_limits(name)

    def version_of(self, name: str, qualifier: str) -> str | None:
        """The published version a provisioned qualifier (version or alias) stands for."""
        return self._version_of(name, qualifier)
