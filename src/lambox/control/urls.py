"""Function URLs: Create/Get/Update/Delete/ListFunctionUrlConfig(s), and the lookup of a URL
id the HTTP front asks for every request.

Checks come in AWS's order with AWS's words (recorded in ``permissions-urls-tags``,
``TestLambdaUrl``): the model first (a Qualifier must be an alias name: a version number or
``$LATEST`` is a ValidationException), a qualifier in the name that differs from the
Qualifier parameter, then the function or alias (Create, Update and List say "Function does
not exist"), then the configuration (Get, Update and Delete say "The resource you requested
does not exist.").

This service keeps every configuration in memory and is the only writer of the store.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes, tenancy
from lambox.control.aliases import AliasService
from lambox.control.functions import FunctionService
from lambox.errors import LamboxError, ResourceConflict, ResourceNotFound
from lambox.model import LATEST
from lambox.store.urls import UrlConfig, UrlStore
from lambox.watch import Change, Removed

DEFAULT_MAX_ITEMS = 50
_ID_ALPHABET = string.ascii_lowercase + string.digits
_NO_FUNCTION = "Function does not exist"
_NO_CONFIG = "The resource you requested does not exist."


def _now() -> str:
    """CreationTime / LastModifiedTime as AWS writes them (ISO 8601, microseconds, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_url_id() -> str:
    """32 random lower-case letters and digits, as AWS's URL ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


class UrlService:
    """The function URL configurations of functions and aliases."""

    def __init__(
        self,
        store: UrlStore,
        functions: FunctionService,
        aliases: AliasService,
        arns: Arns,
        port: int,
    ) -> None:
        self._store = store
        self._functions = functions
        self._aliases = aliases
        self._arns = arns
        self._port = port
        self._configs = {(c.function, c.qualifier): c for c in store.all()}
        self._by_id = {c.url_id: c for c in self._configs.values()}

    def url(self, config: UrlConfig) -> str:
        """The FunctionUrl: a ``*.localhost`` name every browser and curl resolves to this
        machine, routed to the function by its first label (the URL id)."""
        return f"http://{config.url_id}.lambda-url.{self._arns.region}.localhost:{self._port}/"

    def by_id(self, url_id: str) -> UrlConfig | None:
        """The configuration a request's URL id names, from memory (the HTTP front's path)."""
        return self._by_id.get(url_id)

    def on_change(self, change: Change) -> None:
        """Change-feed subscriber: a deleted function or alias loses its URL."""
        if not isinstance(change, Removed):
            return
        if change.qualifier is None:
            self._store.delete_function(change.name)
            gone = [k for k in self._configs if k[0] == change.name]
        else:
            self._store.delete(change.name, change.qualifier)
            gone = [k for k in self._configs if k == (change.name, change.qualifier)]
        for key in gone:
            self._by_id.pop(self._configs.pop(key).url_id, None)

    def close(self) -> None:
        """Release the store; nothing may be called after."""
        self._store.close()

    # -- operations -----------------------------------------------------------------------

    def create(
        self, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> UrlConfig:
        name, key = self._existing("CreateFunctionUrlConfig", function_name, qualifier, params)
        tenancy.refuse(self._functions.get(name), tenancy.FUNCTION_URLS)
        if (name, key) in self._configs:
            raise ResourceConflict(
                "Failed to create function url config for [functionArn = "
                f"{self._arn(name, key)}]. Error message:  FunctionUrlConfig exists for this"
                " Lambda function"
            )
        now = _now()
        url_id = new_url_id()
        while url_id in self._by_id:
            url_id = new_url_id()
        config = UrlConfig(
            function=name,
            qualifier=key,
            url_id=url_id,
            auth_type=str(params["AuthType"]),
            creation_time=now,
            last_modified=now,
            cors=params.get("Cors"),
            invoke_mode=params.get("InvokeMode"),
        )
        return self._save(config)

    def get(self, function_name: str, qualifier: str | None) -> UrlConfig:
        op = "GetFunctionUrlConfig"
        shapes.validate(op, {"FunctionName": function_name, "Qualifier": qualifier})
        return self._config(*self._key(function_name, qualifier))

    def update(
        self, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> UrlConfig:
        name, key = self._existing("UpdateFunctionUrlConfig", function_name, qualifier, params)
        current = self._config(name, key)
        config = replace(
            current,
            auth_type=str(params.get("AuthType", current.auth_type)),
            cors=params.get("Cors", current.cors),
            invoke_mode=params.get("InvokeMode", current.invoke_mode),
            last_modified=_now(),
        )
        return self._save(config)

    def delete(self, function_name: str, qualifier: str | None) -> None:
        op = "DeleteFunctionUrlConfig"
        shapes.validate(op, {"FunctionName": function_name, "Qualifier": qualifier})
        config = self._config(*self._key(function_name, qualifier))
        self._store.delete(config.function, config.qualifier)
        del self._configs[(config.function, config.qualifier)]
        self._by_id.pop(config.url_id, None)

    def list_page(
        self, function_name: str, marker: str | None, max_items: str | None
    ) -> tuple[list[UrlConfig], str | None]:
        """One page of the function's URLs ordered by FunctionArn; the marker is an index."""
        shapes.validate(
            "ListFunctionUrlConfigs",
            {"FunctionName": function_name, "Marker": marker, "MaxItems": max_items},
        )
        name, _ = self._arns.parse(function_name)
        self._require(name, None)
        configs = sorted(
            (c for c in self._configs.values() if c.function == name),
            key=lambda c: self._arn(c.function, c.qualifier),
        )
        start = int(marker) if marker and marker.isdigit() else 0
        limit = min(int(max_items), DEFAULT_MAX_ITEMS) if max_items else DEFAULT_MAX_ITEMS
        more = start + limit < len(configs)
        return configs[start : start + limit], (str(start + limit) if more else None)

    def arn(self, config: UrlConfig) -> str:
        """The FunctionArn a URL configuration answers with (qualified for an alias)."""
        return self._arn(config.function, config.qualifier)

    # -- internals --------------------------------------------------------------------------

    def _arn(self, name: str, key: str) -> str:
        return self._arns.function(name, None if key == LATEST else key)

    def _key(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        name, qualifier = self._arns.parse(function_name, qualifier)
        return name, qualifier or LATEST

    def _existing(
        self, op: str, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> tuple[str, str]:
        shapes.validate(op, {**params, "FunctionName": function_name, "Qualifier": qualifier})
        name, key = self._key(function_name, qualifier)
        self._require(name, None if key == LATEST else key)
        return name, key

    def _require(self, name: str, alias: str | None) -> None:
        """The function (and alias) exist, or AWS's "Function does not exist"."""
        try:
            self._functions.get(name)
            if alias is not None:
                self._aliases.get(name, alias)
        except LamboxError as exc:
            raise ResourceNotFound(_NO_FUNCTION) from exc

    def _config(self, name: str, key: str) -> UrlConfig:
        config = self._configs.get((name, key))
        if config is None:
            raise ResourceNotFound(_NO_CONFIG)
        return config

    def _save(self, config: UrlConfig) -> UrlConfig:
        self._store.put(config)
        self._configs[(config.function, config.qualifier)] = config
        self._by_id[config.url_id] = config
        return config
