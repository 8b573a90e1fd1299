"""The IAM action and resource of a Lambda API request, read from its request line with
botocore's Lambda model: ``POST /2015-03-31/functions/f/invocations?Qualifier=1`` is
``lambda:InvokeFunction`` on ``arn:aws:lambda:<region>:<account>:function:f:1``. The
durable-execution operations are on the execution's ARN (``...:function:f:$LATEST/
durable-execution/<name>/<id>``, matched by a policy's ``...:function:f:*``), as on AWS.

lambox's own paths (``/lambox/v1/<what>/...``) are ``lambox:<what>`` on ``*``: only the
root, or a policy naming them, may use them.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

from lambox.arns import FUNCTION_NAME
from lambox.edge import uri
from lambox.edge.models import service_model

# API operations whose IAM action has another name.
ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}


class LambdaActions:
    """``of(method, raw_path, raw_query)`` -> (action, resource), or None for a request line
    that names no operation (the API answers it with its own 404)."""

    def __init__(self, region: str, account: str) -> None:
        self._routes: list[uri.Route] | None = None  # built on first use (start-up)
        self._region = region
        self._account = account

    def function_arn(self, name: str, qualifier: str | None) -> str:
        m = FUNCTION_NAME.fullmatch(name)
        if m is not None:
            name = m["name"]
            qualifier = qualifier or m["qualifier"]
        arn = f"arn:aws:lambda:{self._region}:{self._account}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def of(self, method: str, raw_path: bytes, raw_query: bytes) -> tuple[str, str] | None:
        path = raw_path.decode("latin-1")
        if path.startswith("/lambox/v1/"):
            return f"lambox:{path.split('/')[3]}", "*"
        query = parse_qs(raw_query.decode("latin-1"), keep_blank_values=True)
        routes = self._routes
        if routes is None:
            routes = self._routes = uri.routes(service_model("lambda"))
        found = uri.match(routes, method, path, query, {})
        if found is None:
            return None
        operation, labels = found
        action = "lambda:" + ACTIONS.get(operation, operation)
        name = labels.get("FunctionName")
        if name:
            qualifier = query.get("Qualifier", [None])[0]
            return action, self.function_arn(unquote(name), qualifier)
        execution = labels.get("DurableExecutionArn")
        if execution:  # as AWS: on the execution's ARN, a sub-resource of its version's
            return action, unquote(execution)
        return action, "*"
