"""Function ARNs: building them as AWS does and reading a FunctionName parameter.

A FunctionName parameter may be a name (``my-fn``), a partial ARN
(``123456789012:function:my-fn``) or a full ARN, each optionally with ``:qualifier``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lambox.errors import InvalidParameterValue, ResourceNotFound

_FULL = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"function:(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
_PARTIAL = re.compile(
    r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
_NAME = re.compile(r"^(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$")


@dataclass(frozen=True, slots=True)
class Arns:
    """ARN arithmetic for one region and account (both settings)."""

    region: str
    account_id: str

    def function(self, name: str, qualifier: str | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{base}:{qualifier}" if qualifier else base

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - frozen and one per server
    def parse(self, function_name: str, qualifier: str | None = None) -> tuple[str, str | None]:
        """(name, qualifier) of a FunctionName parameter plus an optional Qualifier parameter.

        A qualifier in the ARN and a different Qualifier parameter is AWS's
        InvalidParameterValueException; an ARN of another region is ResourceNotFound.
        """
        m = (
            _FULL.match(function_name)
            or _PARTIAL.match(function_name)
            or _NAME.match(function_name)
        )
        if m is None:
            raise ResourceNotFound(f"Function not found: {self.function(function_name)}")
        groups = m.groupdict()
        region = groups.get("region")
        if region and region != self.region:
            raise ResourceNotFound(
                f"Functions from '{region}' are not reachable in this region ('{self.region}')"
            )
        derived = groups.get("qualifier")
        if derived and qualifier and derived != qualifier:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        return groups["name"], derived or qualifier
