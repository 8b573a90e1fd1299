"""REST APIs' Update* operations (UpdateRestApi, UpdateResource, UpdateMethod, UpdateStage):
their ``patchOperations`` applied as API Gateway applies them (``patch.py`` has the paths'
rules and refusals). A patch is checked whole before anything changes."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.apigatewayv2 import patch
from lambox.services.apigatewayv2.rest import AUTHORIZATION, NEEDS_AUTHORIZER, RestApiService
from lambox.services.apigatewayv2.service import bad_request

_STAGE_MEMBERS = {"deploymentId", "description", "tracingEnabled", "cacheClusterEnabled"}


class RestApiUpdates:
    """Adds its handlers to ``apis.operations``."""

    def __init__(self, apis: RestApiService) -> None:
        self._apis = apis
        apis.operations.update(
            {
                "UpdateRestApi": self.update_api,
                "UpdateResource": self.update_resource,
                "UpdateMethod": self.update_method,
                "UpdateStage": self.update_stage,
            }
        )

    def update_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["restApiId"])
        changed = copy.deepcopy(self._apis.view(api))
        for op, path, value in patch.operations(p):
            member, key = patch.split(path)
            if member == "binaryMediaTypes" and key:
                patch.patch_list(changed, member, op, key, value)
            elif key is None and member in ("name", "apiKeySource") and op == "replace":
                changed[member] = value
            elif key is None and member == "description":
                patch.set_member(changed, op, member, value)
            elif key is None and member == "disableExecuteApiEndpoint" and op == "replace":
                changed[member] = patch.boolean(value)
            else:
                raise patch.bad_request(f"Invalid patch path {path}")
        for member in ("binaryMediaTypes", "description"):
            api.pop(member, None)
        api.update(changed)
        self._apis.save(api)
        return self._apis.view(api)

    def update_resource(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["restApiId"])
        resource = self._apis.resource_of(api, p["resourceId"])
        changed = dict(resource)
        for op, path, value in patch.operations(p):
            if op != "replace":
                raise patch.bad_request(
                    f"Invalid patch path  '{path}' specified for op '{op}'. Please choose"
                    " supported operations"
                )
            if path not in ("/pathPart", "/parentId"):
                raise patch.bad_request(
                    f"Invalid patch path  '{path}' specified for op 'replace'. Must be one of:"
                    " [/parentId, /pathPart]"
                )
            changed[path[1:]] = value
        parent = self._apis.resource_of(api, changed["parentId"])
        ancestor: dict[str, Any] | None = parent
        while ancestor is not None:
            if ancestor["id"] == resource["id"]:
                raise patch.bad_request("Resources cannot be cyclical.")
            ancestor = api["Resources"].get(ancestor.get("parentId", ""))
        part = changed["pathPart"]
        if any(
            r.get("parentId") == parent["id"] and r.get("pathPart") == part and r is not resource
            for r in api["Resources"].values()
        ):
            raise ServiceFault(
                "ConflictException",
                f"Another resource with the same parent already has this name: {part}",
                409,
            )
        resource.update(parentId=parent["id"], pathPart=part)
        _repath(api["Resources"])
        self._apis.save(api)
        return dict(resource)

    def update_method(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["restApiId"])
        method = self._apis.method_of(p)
        changed = copy.deepcopy(method)
        ops = patch.operations(p)
        patch.require_ops(ops, ("add", "remove", "replace"))
        for op, path, value in ops:
            member, key = patch.split(path)
            if member == "requestParameters" and key:
                patch.patch_map(changed, member, op, key, patch.boolean(value))
            elif (
                key is None and member in ("authorizationType", "authorizerId") and op == "replace"
            ):
                changed[member] = value
            elif key is None and member == "apiKeyRequired" and op == "replace":
                changed[member] = patch.boolean(value)
            elif key is None and member == "operationName":
                patch.set_member(changed, op, member, value)
            else:
                raise patch.bad_request(f"Invalid patch path {path}")
        kind = changed["authorizationType"]
        if kind not in AUTHORIZATION:
            raise bad_request(
                f"authorizationType {kind} is not supported by lambox: NONE, or CUSTOM with a"
                " Lambda authorizer"
            )
        if kind == "CUSTOM" and changed.get("authorizerId") not in api.get("Authorizers", {}):
            raise bad_request(NEEDS_AUTHORIZER)
        if kind != "CUSTOM":
            changed.pop("authorizerId", None)
        method.clear()
        method.update(changed)
        self._apis.save(api)
        return {k: v for k, v in method.items() if k != "methodIntegration" or v}

    def update_stage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """Move a stage to another deployment (a rollback too), its description, flags and
        stage variables."""
        api = self._apis.require(p["restApiId"])
        stage = api["Stages"].get(p["stageName"])
        if stage is None:
            raise ServiceFault("NotFoundException", "Invalid stage identifier specified", 404)
        changed = dict(stage, variables=dict(stage.get("variables") or {}))
        for op, path, value in patch.operations(p):
            member, key = patch.split(path)
            if member == "variables" and key:
                patch.patch_map(changed, member, op, key, value)
            elif key is None and member in _STAGE_MEMBERS:
                if member in ("tracingEnabled", "cacheClusterEnabled"):
                    value = patch.boolean(value)
                patch.set_member(changed, op, member, value)
            else:
                raise patch.bad_request(
                    f"Invalid method setting path: {path}. Must be one of: [{patch.STAGE_PATHS}]"
                )
        if changed.get("deploymentId") not in api["Deployments"]:
            raise bad_request("Invalid deployment identifier specified")
        changed["lastUpdatedDate"] = time.time()
        api["Stages"][stage["stageName"]] = changed
        self._apis.save(api)
        return dict(changed)


def _repath(resources: dict[str, dict[str, Any]]) -> None:
    """Every resource's ``path`` again from its parent's and its ``pathPart`` (after a move
    or a rename, which carries the subtree along)."""

    def path_of(resource: dict[str, Any]) -> str:
        parent = resources.get(resource.get("parentId", ""))
        if parent is None:
            return "/"
        return path_of(parent).rstrip("/") + "/" + str(resource["pathPart"])

    for resource in resources.values():
        resource["path"] = path_of(resource)
