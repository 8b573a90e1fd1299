"""The API Gateway control APIs as one edge app: apigatewayv2's ``/v2/`` paths and
apigateway's (REST APIs) everything else, as both sign for the service ``apigateway``. Each
is the edge's generic rest-json app over botocore's model.

IAM authorizes API Gateway's control APIs by HTTP method on the resource path, as AWS does:
``apigateway:POST`` on ``arn:aws:apigateway:<region>::/v2/apis``, ``apigateway:DELETE`` on
``arn:aws:apigateway:<region>::/restapis/<id>``."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from lambox.edge.authorize import Authorizer
from lambox.edge.serviceapp import Handler, Permission, RestJsonServiceApp


def permission(region: str) -> Permission:
    """The action and resource of a control request: its method on its path."""

    def of(scope: Scope, path: str) -> tuple[str, str]:
        return (
            f"apigateway:{scope['method']}",
            f"arn:aws:apigateway:{region}::{path.rstrip('/') or '/'}",
        )

    return of


def control_app(
    http_apis: Mapping[str, Handler],
    rest_apis: Mapping[str, Handler],
    authorizer: Authorizer | None,
    region: str,
) -> ASGIApp:
    """One app for both control APIs, split by the ``/v2/`` prefix."""
    allowed = permission(region)
    v2 = RestJsonServiceApp("apigatewayv2", http_apis, authorizer, permission=allowed)
    v1 = RestJsonServiceApp("apigateway", rest_apis, authorizer, permission=allowed)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await (v2 if scope["path"].startswith("/v2/") else v1)(scope, receive, send)

    return app
