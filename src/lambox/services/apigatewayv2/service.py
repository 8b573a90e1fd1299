"""The apigatewayv2 operations lambox serves for HTTP APIs: APIs (with quick create),
routes, AWS_PROXY Lambda integrations and stages.

Integrations lambox does not run (HTTP, mock, service integrations, WebSocket APIs) are
refused when they are created, with a BadRequestException saying so, never when a request
arrives. Every change is written to the store before it is answered; ``api`` is the
in-memory view the request path (``gateway.py``) reads.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable, Mapping
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.apigatewayv2.store import Api, ApiStore

Handler = Callable[[Mapping[str, Any]], dict[str, Any]]
_ID = string.ascii_lowercase + string.digits
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
_ROUTE_KEY = re.compile(r"(?P<method>[A-Z]+) (?P<path>/\S*)")
_LAMBDA_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_.:-]+")
_INVOKE_URI = re.compile(
    r"arn:aws[a-z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/(?P<arn>.+)/invocations"
)
_CHILDREN = ("Routes", "Integrations", "Stages", "Authorizers", "Deployments", "Snapshots")


def new_id(length: int = 10) -> str:
    return "".join(secrets.choice(_ID) for _ in range(length))


def bad_request(message: str) -> ServiceFault:
    return ServiceFault("BadRequestException", message, 400)


def not_found(kind: str, ident: str) -> ServiceFault:
    return ServiceFault("NotFoundException", f"Invalid {kind} identifier specified {ident}", 404)


def lambda_arn(uri: str) -> str:
    """The function ARN of an AWS_PROXY IntegrationUri (a function ARN, or API Gateway's
    invocation URI wrapping one), or the refusal."""
    wrapped = _INVOKE_URI.fullmatch(uri)
    arn = wrapped["arn"] if wrapped else uri
    if not _LAMBDA_ARN.fullmatch(arn):
        raise bad_request(
            f"Invalid IntegrationUri {uri!r}: lambox runs AWS_PROXY integrations with Lambda"
            " function ARNs"
        )
    return arn


def check_route_key(key: str) -> None:
    if key == "$default":
        return
    m = _ROUTE_KEY.fullmatch(key)
    if m is None or m["method"] not in _METHODS:
        raise bad_request(
            f"Invalid RouteKey {key!r}: expected '$default' or '<METHOD> /<path>' with METHOD"
            f" one of {', '.join(_METHODS)}"
        )


def check_target(api: Api, target: str | None) -> None:
    """A route's Target names one of the API's integrations (or is absent)."""
    if target is None:
        return
    integration = target.removeprefix("integrations/")
    if not target.startswith("integrations/") or integration not in api["Integrations"]:
        raise bad_request(f"Invalid Target {target!r}: expected integrations/<id>")


def check_authorization(api: Api, kind: str, authorizer: str | None) -> None:
    """NONE, or CUSTOM with one of the API's Lambda authorizers."""
    if kind not in ("NONE", "CUSTOM", "JWT"):
        raise bad_request(
            f"AuthorizationType {kind} is not supported by lambox: NONE, CUSTOM with a"
            " Lambda REQUEST authorizer, or JWT"
        )
    found = api.get("Authorizers", {}).get(authorizer)
    wanted = {"CUSTOM": "REQUEST", "JWT": "JWT"}.get(kind)
    if wanted is not None and (found is None or found["AuthorizerType"] != wanted):
        raise bad_request(f"Invalid authorizer ID specified: {authorizer}")


class HttpApiService:
    """Control of HTTP APIs; ``operations`` maps operation names to handlers."""

    def __init__(self, store: ApiStore, endpoint: Callable[[str], str]) -> None:
        self._store = store
        self._endpoint = endpoint
        self._apis: dict[str, Api] = {a["ApiId"]: a for a in store.all()}
        self.operations: dict[str, Handler] = {
            "CreateApi": self.create_api,
            "GetApi": self.get_api,
            "GetApis": self.get_apis,
            "DeleteApi": self.delete_api,
            "CreateRoute": self.create_route,
            "GetRoute": self.child("Routes", "RouteId", "Route"),
            "GetRoutes": self.children("Routes"),
            "DeleteRoute": self.delete_child("Routes", "RouteId", "Route"),
            "CreateIntegration": self.create_integration,
            "GetIntegration": self.child("Integrations", "IntegrationId", "Integration"),
            "GetIntegrations": self.children("Integrations"),
            "DeleteIntegration": self.delete_child("Integrations", "IntegrationId", "Integration"),
            "CreateStage": self.create_stage,
            "GetStage": self.child("Stages", "StageName", "stage"),
            "GetStages": self.children("Stages"),
            "DeleteStage": self.delete_child("Stages", "StageName", "stage"),
            "CreateAuthorizer": self.create_authorizer,
            "GetAuthorizer": self.child("Authorizers", "AuthorizerId", "Authorizer"),
            "GetAuthorizers": self.children("Authorizers"),
            "DeleteAuthorizer": self.delete_child("Authorizers", "AuthorizerId", "Authorizer"),
        }

    def api(self, api_id: str) -> Api | None:
        """The API document with its routes, integrations and stages (request path)."""
        return self._apis.get(api_id)

    @staticmethod
    def deployed(api: Api, stage: str) -> dict[str, Any]:
        """The routes, integrations and authorizers ``stage`` serves: the live ones with
        AutoDeploy (API Gateway deploys every change then) or before any deployment, else
        the copy its deployment froze."""
        config = api["Stages"][stage]
        snapshot = api.get("Snapshots", {}).get(config.get("DeploymentId"))
        if config.get("AutoDeploy") or snapshot is None:
            return api
        return snapshot  # type: ignore[no-any-return]

    def close(self) -> None:
        self._store.close()

    # -- APIs --------------------------------------------------------------------------------

    def view(self, api: Api) -> dict[str, Any]:
        """The API's members; its endpoint names the port lambox listens on now."""
        view = {k: v for k, v in api.items() if k not in _CHILDREN}
        view["ApiEndpoint"] = self._endpoint(api["ApiId"])
        return dict(sorted(view.items()))

    def create_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        if p.get("ProtocolType") != "HTTP":
            raise bad_request("lambox serves HTTP APIs only (ProtocolType HTTP)")
        api_id = new_id()
        while api_id in self._apis:
            api_id = new_id()
        api: Api = {
            "ApiId": api_id,
            "ApiKeySelectionExpression": p.get(
                "ApiKeySelectionExpression", "$request.header.x-api-key"
            ),
            "CreatedDate": time.time(),
            "Description": p.get("Description"),
            "DisableExecuteApiEndpoint": bool(p.get("DisableExecuteApiEndpoint", False)),
            "Name": p["Name"],
            "ProtocolType": "HTTP",
            "RouteSelectionExpression": p.get(
                "RouteSelectionExpression", "$request.method $request.path"
            ),
            "Tags": p.get("Tags") or {},
            "Routes": {},
            "Integrations": {},
            "Stages": {},
            "Authorizers": {},
        }
        if p.get("CorsConfiguration") is not None:
            api["CorsConfiguration"] = p["CorsConfiguration"]
        if p.get("Version") is not None:
            api["Version"] = p["Version"]
        api = {k: v for k, v in api.items() if v is not None}
        target = p.get("Target")
        if target is not None:  # quick create: integration, route and $default stage
            route_key = p.get("RouteKey", "$default")
            check_route_key(route_key)
            integration = self.integration_of(
                {"IntegrationType": "AWS_PROXY", "IntegrationUri": target}
            )
            api["Integrations"][integration["IntegrationId"]] = integration
            route = self._route(route_key, f"integrations/{integration['IntegrationId']}")
            api["Routes"][route["RouteId"]] = route
            api["Stages"]["$default"] = self._stage({"StageName": "$default", "AutoDeploy": True})
        self.save(api)
        return self.view(api)

    def get_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self.view(self.require(p["ApiId"]))

    def get_apis(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"Items": [self.view(a) for a in self._apis.values()]}

    def delete_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["ApiId"])
        self._store.delete(api["ApiId"])
        del self._apis[api["ApiId"]]
        return {}

    # -- routes, integrations, stages ---------------------------------------------------------

    def _route(self, key: str, target: str | None) -> dict[str, Any]:
        route = {
            "ApiKeyRequired": False,
            "AuthorizationType": "NONE",
            "RouteId": new_id(7),
            "RouteKey": key,
        }
        if target:
            route["Target"] = target
        return route

    def create_route(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["ApiId"])
        key = p["RouteKey"]
        check_route_key(key)
        if any(r["RouteKey"] == key for r in api["Routes"].values()):
            raise ServiceFault("ConflictException", f"Route with key {key} already exists", 409)
        target = p.get("Target")
        check_target(api, target)
        kind = p.get("AuthorizationType", "NONE")
        authorizer = p.get("AuthorizerId")
        check_authorization(api, kind, authorizer)
        route = self._route(key, target)
        if kind != "NONE":
            route["AuthorizationType"] = kind
            route["AuthorizerId"] = authorizer
        if kind == "JWT" and p.get("AuthorizationScopes"):
            route["AuthorizationScopes"] = list(p["AuthorizationScopes"])
        api["Routes"][route["RouteId"]] = route
        self.save(api)
        return route

    def integration_of(self, p: Mapping[str, Any]) -> dict[str, Any]:
        kind = p.get("IntegrationType")
        if kind != "AWS_PROXY":
            raise bad_request(
                f"IntegrationType {kind} is not supported by lambox: only AWS_PROXY"
                " integrations with Lambda functions run here"
            )
        if p.get("IntegrationSubtype"):
            raise bad_request("lambox does not run AWS service integrations (IntegrationSubtype)")
        uri = p.get("IntegrationUri") or ""
        lambda_arn(uri)
        version = p.get("PayloadFormatVersion", "2.0")
        if version not in ("1.0", "2.0"):
            raise bad_request(f"Invalid PayloadFormatVersion {version!r}: expected 1.0 or 2.0")
        return {
            "ConnectionType": "INTERNET",
            "IntegrationId": new_id(7),
            "IntegrationMethod": "POST",
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": uri,
            "PayloadFormatVersion": version,
            "TimeoutInMillis": int(p.get("TimeoutInMillis", 30000)),
        }

    def create_authorizer(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """A Lambda REQUEST authorizer (payload 2.0 or 1.0; simple responses or IAM policy
        documents) or a JWT authorizer (``jwt.py``)."""
        api = self.require(p["ApiId"])
        if p["AuthorizerType"] == "JWT":
            return self._jwt_authorizer(api, p)
        if p["AuthorizerType"] != "REQUEST":
            raise bad_request(
                f"AuthorizerType {p['AuthorizerType']} is not supported by lambox: Lambda"
                " REQUEST and JWT authorizers run here"
            )
        lambda_arn(p.get("AuthorizerUri") or "")
        version = p.get("AuthorizerPayloadFormatVersion")
        if version not in ("1.0", "2.0"):
            raise bad_request("AuthorizerPayloadFormatVersion must be 1.0 or 2.0")
        authorizer = {
            "AuthorizerId": new_id(7),
            "AuthorizerPayloadFormatVersion": version,
            "AuthorizerResultTtlInSeconds": int(p.get("AuthorizerResultTtlInSeconds", 0)),
            "AuthorizerType": "REQUEST",
            "AuthorizerUri": p["AuthorizerUri"],
            "EnableSimpleResponses": bool(p.get("EnableSimpleResponses", False)),
            "IdentitySource": list(p["IdentitySource"]),
            "Name": p["Name"],
        }
        api.setdefault("Authorizers", {})[authorizer["AuthorizerId"]] = authorizer
        self.save(api)
        return authorizer

    def _jwt_authorizer(self, api: Api, p: Mapping[str, Any]) -> dict[str, Any]:
        config = p.get("JwtConfiguration") or {}
        issuer = str(config.get("Issuer") or "")
        if not issuer.startswith(("https://", "http://")) or not config.get("Audience"):
            raise bad_request("A JWT authorizer needs JwtConfiguration with Issuer and Audience")
        authorizer = {
            "AuthorizerId": new_id(7),
            "AuthorizerType": "JWT",
            "IdentitySource": list(p.get("IdentitySource") or ["$request.header.Authorization"]),
            "JwtConfiguration": {"Audience": list(config["Audience"]), "Issuer": issuer},
            "Name": p["Name"],
        }
        api.setdefault("Authorizers", {})[authorizer["AuthorizerId"]] = authorizer
        self.save(api)
        return authorizer

    def create_integration(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["ApiId"])
        integration = self.integration_of(p)
        api["Integrations"][integration["IntegrationId"]] = integration
        self.save(api)
        return integration

    def _stage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        now = time.time()
        return {
            "AutoDeploy": bool(p.get("AutoDeploy", False)),
            "CreatedDate": now,
            "DefaultRouteSettings": p.get("DefaultRouteSettings")
            or {"DetailedMetricsEnabled": False},
            "LastUpdatedDate": now,
            "RouteSettings": p.get("RouteSettings") or {},
            "StageName": p["StageName"],
            "StageVariables": p.get("StageVariables") or {},
            "Tags": p.get("Tags") or {},
        }

    def create_stage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["ApiId"])
        name = p["StageName"]
        if name in api["Stages"]:
            raise ServiceFault("ConflictException", f"Stage already exists: {name}", 409)
        stage = self._stage(p)
        api["Stages"][name] = stage
        self.save(api)
        return stage

    def child(self, kind: str, key: str, label: str) -> Handler:
        def get(p: Mapping[str, Any]) -> dict[str, Any]:
            item = self.require(p["ApiId"]).get(kind, {}).get(p[key])
            if item is None:
                raise not_found(label, p[key])
            return dict(item)

        return get

    def children(self, kind: str) -> Handler:
        def listing(p: Mapping[str, Any]) -> dict[str, Any]:
            return {"Items": list(self.require(p["ApiId"]).get(kind, {}).values())}

        return listing

    def delete_child(self, kind: str, key: str, label: str) -> Handler:
        def delete(p: Mapping[str, Any]) -> dict[str, Any]:
            api = self.require(p["ApiId"])
            if api.setdefault(kind, {}).pop(p[key], None) is None:
                raise not_found(label, p[key])
            self.save(api)
            return {}

        return delete

    # -- internals --------------------------------------------------------------------------

    def require(self, api_id: str) -> Api:
        api = self._apis.get(api_id)
        if api is None:
            raise not_found("API", api_id)
        return api

    def save(self, api: Api) -> None:
        self._store.put(api)
        self._apis[api["ApiId"]] = api
