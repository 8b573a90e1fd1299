"""REST APIs (the ``apigateway`` service): RestApi, resources (with ``{param}`` and a final
``{proxy+}``), methods (ANY included), AWS_PROXY Lambda integrations, Lambda authorizers
(TOKEN and REQUEST), deployments and stages (the Update* operations are ``rest_updates``).

Integrations lambox does not run (mapping templates, HTTP, MOCK and AWS service
integrations), IAM and Cognito authorization are refused when they are created. A
deployment freezes a copy of the resources, methods and authorizers (``Snapshots``, kept
beside the API and never shown); a stage serves the copy of the deployment it points to, as
API Gateway does, so changes reach callers only when deployed. Requests reach a REST API at
``http://<api-id>.execute-api.localhost:<port>/<stage>/``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.apigatewayv2.service import Handler, bad_request, lambda_arn, new_id
from lambox.services.apigatewayv2.store import Api, ApiStore

_CHILDREN = ("Resources", "Deployments", "Stages", "Authorizers", "Snapshots")
NEEDS_AUTHORIZER = (
    "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or"
    " COGNITO_USER_POOLS requires a valid authorizer."
)
AUTHORIZATION = ("NONE", "CUSTOM")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")


def not_found(what: str) -> ServiceFault:
    return ServiceFault("NotFoundException", f"Invalid {what} identifier specified", 404)


class RestApiService:
    """Control of REST APIs; ``operations`` maps operation names to handlers."""

    def __init__(self, store: ApiStore, endpoint: Callable[[str], str]) -> None:
        self._store = store
        self._endpoint = endpoint
        self._apis: dict[str, Api] = {a["id"]: a for a in store.all()}
        self.operations: dict[str, Handler] = {
            "CreateRestApi": self.create_api,
            "GetRestApi": self.get_api,
            "GetRestApis": self.get_apis,
            "DeleteRestApi": self.delete_api,
            "GetResources": self.get_resources,
            "GetResource": self.get_resource,
            "CreateResource": self.create_resource,
            "DeleteResource": self.delete_resource,
            "PutMethod": self.put_method,
            "GetMethod": self.get_method,
            "PutIntegration": self.put_integration,
            "GetIntegration": self.get_integration,
            "CreateDeployment": self.create_deployment,
            "GetDeployments": self.get_deployments,
            "CreateStage": self.create_stage,
            "GetStage": self.get_stage,
            "GetStages": self.get_stages,
            "DeleteStage": self.delete_stage,
            "GetDeployment": self.get_deployment,
            "DeleteDeployment": self.delete_deployment,
            "CreateAuthorizer": self.create_authorizer,
            "GetAuthorizer": self.get_authorizer,
            "GetAuthorizers": self.get_authorizers,
            "DeleteAuthorizer": self.delete_authorizer,
        }

    def api(self, api_id: str) -> Api | None:
        """The API document with its resources and stages (request path)."""
        return self._apis.get(api_id)

    @staticmethod
    def deployed(api: Api, stage: str) -> dict[str, Any]:
        """What ``stage`` serves: the resources and authorizers of its deployment as they
        were when it was made (the live ones for a deployment stored before snapshots)."""
        deployment = api["Stages"][stage]["deploymentId"]
        snapshot = api.get("Snapshots", {}).get(deployment)
        if snapshot is not None:
            return snapshot  # type: ignore[no-any-return]
        return {"Resources": api["Resources"], "Authorizers": api.get("Authorizers", {})}

    def close(self) -> None:
        self._store.close()

    # -- APIs --------------------------------------------------------------------------------

    def view(self, api: Api) -> dict[str, Any]:
        return {k: v for k, v in api.items() if k not in _CHILDREN}

    def create_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api_id = new_id()
        while api_id in self._apis:
            api_id = new_id()
        root = new_id()
        api: Api = {
            "id": api_id,
            "name": p["name"],
            "createdDate": time.time(),
            "apiKeySource": p.get("apiKeySource", "HEADER"),
            "endpointConfiguration": p.get("endpointConfiguration") or {"types": ["EDGE"]},
            "disableExecuteApiEndpoint": bool(p.get("disableExecuteApiEndpoint", False)),
            "rootResourceId": root,
            "tags": p.get("tags") or {},
            "Resources": {root: {"id": root, "path": "/"}},
            "Deployments": {},
            "Stages": {},
        }
        if p.get("description") is not None:
            api["description"] = p["description"]
        self.save(api)
        return self.view(api)

    def get_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self.view(self.require(p["restApiId"]))

    def get_apis(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"items": [self.view(a) for a in self._apis.values()]}

    def delete_api(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        self._store.delete(api["id"])
        del self._apis[api["id"]]
        return {}

    # -- resources and methods ----------------------------------------------------------------

    def get_resources(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"items": list(self.require(p["restApiId"])["Resources"].values())}

    def get_resource(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self.resource_of(self.require(p["restApiId"]), p["resourceId"])

    def create_resource(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        parent = self.resource_of(api, p["parentId"])
        part = p["pathPart"]
        if parent["path"].endswith("+}"):
            raise bad_request("A greedy path variable must be the last part of the path")
        path = parent["path"].rstrip("/") + "/" + part
        if any(r["path"] == path for r in api["Resources"].values()):
            raise ServiceFault(
                "ConflictException",
                f"Another resource with the same parent already has this name: {part}",
                409,
            )
        resource = {"id": new_id(), "parentId": parent["id"], "pathPart": part, "path": path}
        api["Resources"][resource["id"]] = resource
        self.save(api)
        return resource

    def delete_resource(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        gone = self.resource_of(api, p["resourceId"])
        prefix = gone["path"].rstrip("/") + "/"
        for rid, resource in list(api["Resources"].items()):
            if rid == gone["id"] or resource["path"].startswith(prefix):
                del api["Resources"][rid]
        self.save(api)
        return {}

    def put_method(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        resource = self.resource_of(api, p["resourceId"])
        method = p["httpMethod"].upper()
        if method not in _METHODS:
            raise bad_request(f"Invalid HttpMethod specified: {method}")
        kind = p["authorizationType"]
        if kind not in AUTHORIZATION:
            raise bad_request(
                f"authorizationType {kind} is not supported by lambox: NONE, or CUSTOM with a"
                " Lambda authorizer"
            )
        entry: dict[str, Any] = {
            "httpMethod": method,
            "authorizationType": kind,
            "apiKeyRequired": bool(p.get("apiKeyRequired", False)),
        }
        if kind == "CUSTOM":
            if p.get("authorizerId") not in api.get("Authorizers", {}):
                raise bad_request(NEEDS_AUTHORIZER)
            entry["authorizerId"] = p["authorizerId"]
        resource.setdefault("resourceMethods", {})[method] = entry
        self.save(api)
        return dict(entry)

    def get_method(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.method_of(p))

    def put_integration(self, p: Mapping[str, Any]) -> dict[str, Any]:
        method = self.method_of(p)
        kind = p["type"]
        if kind != "AWS_PROXY":
            raise bad_request(
                f"Integration type {kind} is not supported by lambox: only AWS_PROXY"
                " integrations with Lambda functions run here"
            )
        if p.get("requestTemplates"):
            raise bad_request("lambox does not run mapping templates (requestTemplates)")
        uri = p.get("uri") or ""
        lambda_arn(uri)
        integration = {
            "type": "AWS_PROXY",
            "httpMethod": p.get("integrationHttpMethod", "POST"),
            "uri": uri,
            "passthroughBehavior": "WHEN_NO_MATCH",
            "timeoutInMillis": int(p.get("timeoutInMillis", 29000)),
            "cacheNamespace": p["resourceId"],
            "cacheKeyParameters": [],
        }
        method["methodIntegration"] = integration
        self.save(self.require(p["restApiId"]))
        return dict(integration)

    def get_integration(self, p: Mapping[str, Any]) -> dict[str, Any]:
        integration = self.method_of(p).get("methodIntegration")
        if integration is None:
            raise ServiceFault("NotFoundException", "Invalid Integration identifier specified", 404)
        return dict(integration)

    # -- deployments and stages ---------------------------------------------------------------

    def create_deployment(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        if not any(r.get("resourceMethods") for r in api["Resources"].values()):
            raise bad_request("The REST API doesn't contain any methods")
        deployment: dict[str, Any] = {"id": new_id(), "createdDate": time.time()}
        if p.get("description") is not None:
            deployment["description"] = p["description"]
        api["Deployments"][deployment["id"]] = deployment
        api.setdefault("Snapshots", {})[deployment["id"]] = {
            "Resources": copy.deepcopy(api["Resources"]),
            "Authorizers": copy.deepcopy(api.get("Authorizers", {})),
        }
        name = p.get("stageName")
        if name:
            stage = api["Stages"].get(name) or self._stage(
                name, str(deployment["id"]), p.get("variables")
            )
            stage["deploymentId"] = deployment["id"]
            stage["lastUpdatedDate"] = time.time()
            api["Stages"][name] = stage
        self.save(api)
        return deployment

    def get_deployments(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"items": list(self.require(p["restApiId"])["Deployments"].values())}

    def _stage(self, name: str, deployment: str, variables: Any) -> dict[str, Any]:
        now = time.time()
        return {
            "deploymentId": deployment,
            "stageName": name,
            "cacheClusterEnabled": False,
            "cacheClusterStatus": "NOT_AVAILABLE",
            "methodSettings": {},
            "variables": variables or {},
            "tracingEnabled": False,
            "createdDate": now,
            "lastUpdatedDate": now,
        }

    def create_stage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        name = p["stageName"]
        if name in api["Stages"]:
            raise ServiceFault("ConflictException", "Stage already exists", 409)
        if p["deploymentId"] not in api["Deployments"]:
            raise bad_request("Invalid deployment identifier specified")
        stage = self._stage(name, p["deploymentId"], p.get("variables"))
        api["Stages"][name] = stage
        self.save(api)
        return stage

    def get_stage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        stage = self.require(p["restApiId"])["Stages"].get(p["stageName"])
        if stage is None:
            raise ServiceFault("NotFoundException", "Invalid stage identifier specified", 404)
        return dict(stage)

    def get_stages(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"item": list(self.require(p["restApiId"])["Stages"].values())}

    def delete_stage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        if api["Stages"].pop(p["stageName"], None) is None:
            raise ServiceFault("NotFoundException", "Invalid stage identifier specified", 404)
        self.save(api)
        return {}

    def get_deployment(self, p: Mapping[str, Any]) -> dict[str, Any]:
        deployment = self.require(p["restApiId"])["Deployments"].get(p["deploymentId"])
        if deployment is None:
            raise not_found("Deployment")
        return dict(deployment)

    def delete_deployment(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        ident = p["deploymentId"]
        if ident not in api["Deployments"]:
            raise not_found("Deployment")
        if any(s["deploymentId"] == ident for s in api["Stages"].values()):
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        del api["Deployments"][ident]
        api.get("Snapshots", {}).pop(ident, None)
        self.save(api)
        return {}

    # -- authorizers --------------------------------------------------------------------------

    def create_authorizer(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """A Lambda authorizer: TOKEN (a header's token) or REQUEST (identity sources of the
        request); Cognito user pools are refused."""
        api = self.require(p["restApiId"])
        kind = p["type"]
        if kind not in ("TOKEN", "REQUEST"):
            raise bad_request(
                f"Authorizer type {kind} is not supported by lambox: only Lambda TOKEN and"
                " REQUEST authorizers run here"
            )
        lambda_arn(p.get("authorizerUri") or "")
        source = p.get("identitySource")
        if kind == "TOKEN" and not str(source or "").startswith("method.request.header."):
            raise bad_request(
                "Invalid identity source for a TOKEN authorizer: expected"
                " method.request.header.<name>"
            )
        authorizer: dict[str, Any] = {
            "id": new_id(6),
            "name": p["name"],
            "type": kind,
            "authorizerUri": p["authorizerUri"],
            "authorizerResultTtlInSeconds": int(p.get("authorizerResultTtlInSeconds", 300)),
        }
        if source:
            authorizer["identitySource"] = source
        if p.get("identityValidationExpression"):
            authorizer["identityValidationExpression"] = p["identityValidationExpression"]
        api.setdefault("Authorizers", {})[authorizer["id"]] = authorizer
        self.save(api)
        return dict(authorizer)

    def get_authorizer(self, p: Mapping[str, Any]) -> dict[str, Any]:
        found = self.require(p["restApiId"]).get("Authorizers", {}).get(p["authorizerId"])
        if found is None:
            raise not_found("Authorizer")
        return dict(found)

    def get_authorizers(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"items": list(self.require(p["restApiId"]).get("Authorizers", {}).values())}

    def delete_authorizer(self, p: Mapping[str, Any]) -> dict[str, Any]:
        api = self.require(p["restApiId"])
        if api.get("Authorizers", {}).pop(p["authorizerId"], None) is None:
            raise not_found("Authorizer")
        self.save(api)
        return {}

    # -- internals --------------------------------------------------------------------------

    def require(self, api_id: str) -> Api:
        api = self._apis.get(api_id)
        if api is None:
            raise not_found("API")
        return api

    def resource_of(self, api: Api, resource_id: str) -> dict[str, Any]:
        resource = api["Resources"].get(resource_id)
        if resource is None:
            raise not_found("Resource")
        return resource  # type: ignore[no-any-return]

    def method_of(self, p: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.resource_of(self.require(p["restApiId"]), p["resourceId"])
        method = (resource.get("resourceMethods") or {}).get(p["httpMethod"].upper())
        if method is None:
            raise ServiceFault("NotFoundException", "Invalid Method identifier specified", 404)
        return method  # type: ignore[no-any-return]

    def save(self, api: Api) -> None:
        self._store.put(api)
        self._apis[api["id"]] = api
