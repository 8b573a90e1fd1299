"""HTTP APIs' Update* operations, deployments and DeleteCorsConfiguration (apigatewayv2).

Updates take the members given and leave the others, as API Gateway does; what lambox does
not run is refused as CreateX refuses it. A deployment freezes a copy of the routes,
integrations and authorizers (``Snapshots``); a stage without AutoDeploy serves the copy of
its ``DeploymentId`` (``HttpApiService.deployed``), one with AutoDeploy every change at once.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.apigatewayv2.service import (
    HttpApiService,
    bad_request,
    check_authorization,
    check_route_key,
    check_target,
    lambda_arn,
    new_id,
    not_found,
)
from lambox.services.apigatewayv2.store import Api

_API_MEMBERS = ("Name", "Description", "DisableExecuteApiEndpoint", "Version")
_ROUTE_MEMBERS = ("ApiKeyRequired", "OperationName")
_STAGE_MEMBERS = ("AutoDeploy", "Description", "DefaultRouteSettings", "RouteSettings")
_AUTHORIZER_MEMBERS = ("Name", "AuthorizerResultTtlInSeconds", "EnableSimpleResponses")


class HttpApiUpdates:
    """Adds its handlers to ``apis.operations``."""

    def __init__(self, apis: HttpApiService) -> None:
        self._apis = apis
        apis.operations.update(
            {
                "UpdateApi": self.update_api,
                "DeleteCorsConfiguration": self.delete_cors,
                "UpdateRoute": self.update_route,
                "UpdateIntegration": self.update_integration,
                "UpdateAuthorizer": self.update_authorizer,
                "UpdateStage": self.update_stage,
                "CreateDeployment": self.create_deployment,
                "GetDeployment": self.get_deployment,
                "GetDeployments": self.get_deployments,
                "UpdateDeployment": self.update_deployment,
                "DeleteDeployment": self.delete_deployment,
            }
        )

    def update_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        if p.get("Target") is not None or p.get("RouteKey") is not None:
            raise bad_request("lambox does not update a quick create's Target or RouteKey")
        for member in _API_MEMBERS:
            if p.get(member) is not None:
                api[member] = p[member]
        if p.get("CorsConfiguration") is not None:
            api["CorsConfiguration"] = p["CorsConfiguration"]
        self._apis.save(api)
        return self._apis.view(api)

    def delete_cors(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        api.pop("CorsConfiguration", None)
        self._apis.save(api)
        return {}

    def update_route(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        found = _child(api, "Routes", p["RouteId"], "Route")
        route = copy.deepcopy(found)  # all checked before anything changes
        key = p.get("RouteKey")
        if key is not None and key != route["RouteKey"]:
            check_route_key(key)
            if any(r["RouteKey"] == key for r in api["Routes"].values()):
                raise ServiceFault("ConflictException", f"Route with key {key} already exists", 409)
            route["RouteKey"] = key
        if p.get("Target") is not None:
            check_target(api, p["Target"])
            route["Target"] = p["Target"]
        kind = p.get("AuthorizationType", route["AuthorizationType"])
        authorizer = p.get("AuthorizerId", route.get("AuthorizerId"))
        check_authorization(api, kind, authorizer)
        route["AuthorizationType"] = kind
        if kind != "NONE":
            route["AuthorizerId"] = authorizer
        else:
            route.pop("AuthorizerId", None)
        if p.get("AuthorizationScopes") is not None:
            route["AuthorizationScopes"] = list(p["AuthorizationScopes"])
        for member in _ROUTE_MEMBERS:
            if p.get(member) is not None:
                route[member] = p[member]
        found.clear()
        found.update(route)
        self._apis.save(api)
        return dict(route)

    def update_integration(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        integration = _child(api, "Integrations", p["IntegrationId"], "Integration")
        merged = {**integration, **{k: v for k, v in p.items() if v is not None}}
        fresh = self._apis.integration_of(merged)  # refuses what CreateIntegration refuses
        fresh["IntegrationId"] = integration["IntegrationId"]
        if p.get("Description") is not None:
            fresh["Description"] = p["Description"]
        integration.clear()
        integration.update(fresh)
        self._apis.save(api)
        return dict(integration)

    def update_authorizer(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        found = _child(api, "Authorizers", p["AuthorizerId"], "Authorizer")
        authorizer = copy.deepcopy(found)  # all checked before anything changes
        if p.get("AuthorizerType") not in (None, authorizer["AuthorizerType"]):
            raise bad_request(
                f"AuthorizerType {p['AuthorizerType']} is not supported by lambox: only Lambda"
                " REQUEST authorizers run here"
            )
        if p.get("AuthorizerUri") is not None:
            lambda_arn(p["AuthorizerUri"])
            authorizer["AuthorizerUri"] = p["AuthorizerUri"]
        version = p.get("AuthorizerPayloadFormatVersion")
        if version is not None:
            if version not in ("1.0", "2.0"):
                raise bad_request("AuthorizerPayloadFormatVersion must be 1.0 or 2.0")
            authorizer["AuthorizerPayloadFormatVersion"] = version
        if p.get("IdentitySource") is not None:
            authorizer["IdentitySource"] = list(p["IdentitySource"])
        if p.get("JwtConfiguration") and authorizer["AuthorizerType"] == "JWT":
            authorizer["JwtConfiguration"].update(p["JwtConfiguration"])
        for member in _AUTHORIZER_MEMBERS:
            if p.get(member) is not None:
                authorizer[member] = p[member]
        found.clear()
        found.update(authorizer)
        self._apis.save(api)
        return dict(authorizer)

    def update_stage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """Stage variables are merged (an empty value removes one), a DeploymentId moves the
        stage to that deployment (a rollback too)."""
        api = self._apis.require(p["ApiId"])
        found = _child(api, "Stages", p["StageName"], "stage")
        stage = copy.deepcopy(found)  # all checked before anything changes
        deployment = p.get("DeploymentId")
        if deployment is not None:
            if deployment not in api.get("Deployments", {}):
                raise not_found("Deployment", deployment)
            stage["DeploymentId"] = deployment
        for member in _STAGE_MEMBERS:
            if p.get(member) is not None:
                stage[member] = p[member]
        variables = dict(stage.get("StageVariables") or {})
        for name, value in (p.get("StageVariables") or {}).items():
            if value:
                variables[name] = value
            else:
                variables.pop(name, None)
        stage["StageVariables"] = variables
        stage["LastUpdatedDate"] = time.time()
        found.clear()
        found.update(stage)
        self._apis.save(api)
        return dict(stage)

    def create_deployment(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        name = p.get("StageName")
        if name is not None and name not in api["Stages"]:
            raise not_found("stage", name)
        deployment: dict[str, Any] = {
            "AutoDeployed": False,
            "CreatedDate": time.time(),
            "DeploymentId": new_id(6),
            "DeploymentStatus": "DEPLOYED",
        }
        if p.get("Description") is not None:
            deployment["Description"] = p["Description"]
        ident = deployment["DeploymentId"]
        api.setdefault("Deployments", {})[ident] = deployment
        api.setdefault("Snapshots", {})[ident] = {
            kind: copy.deepcopy(api.get(kind, {}))
            for kind in ("Routes", "Integrations", "Authorizers")
        }
        if name is not None:
            api["Stages"][name]["DeploymentId"] = ident
        self._apis.save(api)
        return dict(deployment)

    def get_deployment(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        return dict(_child(api, "Deployments", p["DeploymentId"], "Deployment"))

    def get_deployments(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"Items": list(self._apis.require(p["ApiId"]).get("Deployments", {}).values())}

    def update_deployment(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        deployment = _child(api, "Deployments", p["DeploymentId"], "Deployment")
        if p.get("Description") is not None:
            deployment["Description"] = p["Description"]
        self._apis.save(api)
        return dict(deployment)

    def delete_deployment(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self._apis.require(p["ApiId"])
        ident = p["DeploymentId"]
        _child(api, "Deployments", ident, "Deployment")
        if any(s.get("DeploymentId") == ident for s in api["Stages"].values()):
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        del api["Deployments"][ident]
        api.get("Snapshots", {}).pop(ident, None)
        self._apis.save(api)
        return {}


def _child(api: Api, kind: str, ident: str, label: str) -> dict[str, Any]:
    found = api.get(kind, {}).get(ident)
    if found is None:
        raise not_found(label, ident)
    return found  # type: ignore[no-any-return]
