"""Which Lambda operation a request no route serves names, so its error can say so.

The route table of the Lambda API lists what lambox serves; botocore's Lambda model lists what
AWS serves. A request that matches no route but matches an operation of the model is a call a
tool really makes: it is answered ``UnsupportedOperationException`` naming that operation,
never a bare ``UnknownOperationException`` (which stays for request lines AWS has no
operation for either).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from lambox.edge import uri
from lambox.edge.models import service_model


@cache
def _table() -> list[uri.Route]:
    return uri.routes(service_model("lambda"), deprecated=True)


def lambda_operation(
    method: str, path: str, query: Mapping[str, Sequence[str]], headers: Mapping[str, str]
) -> str | None:
    """The name of the operation of Lambda's model this request line names, or None.

    A trailing slash the model's path lacks names nothing: AWS answers such a path as an
    unknown route (the protocol layer's matching forgives the slash, AWS's does not)."""
    found = uri.match(_table(), method, path, query, headers)
    if found is None:
        return None
    template = service_model("lambda").operation_model(found[0]).http["requestUri"]
    if path.endswith("/") and not template.partition("?")[0].endswith("/"):
        return None
    return found[0]
