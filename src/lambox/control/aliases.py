"""Aliases: named pointers to published versions, with optional weighted routing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.concurrency import ConcurrencyService
from lambox.control.functions import FunctionService
from lambox.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lambox.model import LATEST, Alias
from lambox.store.functions import FunctionStore
from lambox.watch import ChangeFeed, Removed


class AliasService:
    """CreateAlias, GetAlias, UpdateAlias, DeleteAlias, ListAliases."""

    def __init__(
        self,
        store: FunctionStore,
        feed: ChangeFeed,
        functions: FunctionService,
        concurrency: ConcurrencyService,
        arns: Arns,
    ) -> None:
        self._store = store
        self._feed = feed
        self._functions = functions
        self._concurrency = concurrency
        self._arns = arns

    def restore(self) -> None:
        for alias in self._store.all_aliases():
            self._feed.publish(alias)

    def _routing(
        self, name: str, version: str, routing: Mapping[str, Any] | None
    ) -> tuple[str | None, float]:
        weights = dict((routing or {}).get("AdditionalVersionWeights") or {})
        if not weights:
            return None, 0.0
        if len(weights) > 1:
            raise InvalidParameterValue(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        if version == LATEST:
            raise InvalidParameterValue(
                "$LATEST is not supported for an alias pointing to more than 1 version"
            )
        extra, weight = next(iter(weights.items()))
        if extra == version:
            raise InvalidParameterValue(
                f"Invalid function version {extra}. Function version {extra} is already included"
                " in routing configuration."
            )
        self._version(name, extra)
        return str(extra), float(weight)

    def _version(self, name: str, version: str) -> None:
        if self._store.get(name, version) is None:
            raise ResourceNotFound(f"Function not found: {self._arns.function(name, version)}")

    def create(self, function_name: str, params: Mapping[str, Any]) -> Alias:
        shapes.validate("CreateAlias", {"FunctionName": function_name, **params})
        name = self._functions.get(function_name).name
        alias_name = str(params["Name"])
        version = str(params["FunctionVersion"])
        self._version(name, version)
        extra, weight = self._routing(name, version, params.get("RoutingConfig"))
        if self._store.get_alias(name, alias_name) is not None:
            raise ResourceConflict(f"Alias already exists: {self._arns.function(name, alias_name)}")
        alias = Alias(
            function=name,
            name=alias_name,
            function_version=version,
            revision_id=str(uuid.uuid4()),
            description=str(params.get("Description", "")),
            additional_version=extra,
            additional_weight=weight,
        )
        self._store.put_alias(alias)
        self._feed.publish(alias)
        return alias

    def get(self, function_name: str, alias_name: str) -> Alias:
        shapes.validate("GetAlias", {"FunctionName": function_name, "Name": alias_name})
        name = self._functions.get(function_name).name
        alias = self._store.get_alias(name, alias_name)
        if alias is None:
            raise ResourceNotFound(
                f"Cannot find alias arn: {self._arns.function(name, alias_name)}"
            )
        return alias

    def update(self, function_name: str, alias_name: str, params: Mapping[str, Any]) -> Alias:
        shapes.validate(
            "UpdateAlias", {"FunctionName": function_name, "Name": alias_name, **params}
        )
        name = self._functions.get(function_name).name
        current = self._store.get_alias(name, alias_name)
        if current is None:
            raise ResourceNotFound(f"Alias not found: {self._arns.function(name, alias_name)}")
        revision = params.get("RevisionId")
        if revision is not None and revision != current.revision_id:
            self._functions.check_revision_text(revision, current.revision_id)
        version = str(params.get("FunctionVersion", current.function_version))
        self._version(name, version)
        if "RoutingConfig" in params:
            extra, weight = self._routing(name, version, params["RoutingConfig"])
        else:
            extra, weight = current.additional_version, current.additional_weight
            if extra == version:
                extra, weight = None, 0.0
        updated = replace(
            current,
            function_version=version,
            description=str(params.get("Description", current.description)),
            additional_version=extra,
            additional_weight=weight,
            revision_id=str(uuid.uuid4()),
        )
        self._store.put_alias(updated)
        self._feed.publish(updated)
        self._concurrency.publish_limits(name)
        return updated

    def delete(self, function_name: str, alias_name: str) -> None:
        shapes.validate("DeleteAlias", {"FunctionName": function_name, "Name": alias_name})
        name = self._functions.get(function_name).name
        if self._store.get_alias(name, alias_name) is None:
            return
        self._store.delete_alias(name, alias_name)
        self._store.delete_provisioned(name, alias_name)
        self._feed.publish(Removed(name, self._feed.next_generation(), alias_name))
        self._concurrency.publish_limits(name)

    def list(
        self, function_name: str, version: str | None, marker: str | None, max_items: int | None
    ) -> tuple[list[Alias], str | None]:
        name = self._functions.get(function_name).name
        aliases = [
            a
            for a in self._store.list_aliases(name)
            if version is None or a.function_version == version
        ]
        start = int(marker) if marker and marker.isdigit() else 0
        limit = max_items or 50
        more = start + limit < len(aliases)
        return aliases[start : start + limit], (str(start + limit) if more else None)
