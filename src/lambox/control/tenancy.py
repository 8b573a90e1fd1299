"""What a function with tenant isolation (``TenancyConfig`` PER_TENANT) cannot use.

AWS documents tenant isolation as incompatible with SnapStart, provisioned concurrency,
function URLs and event source mappings (a tenant-isolated function is invoked with a
tenant id: by the Invoke API, API Gateway REST APIs, or a function that names the tenant).
lambox refuses each where it is configured, with AWS's error type for a parameter a
function cannot take (InvalidParameterValueException). The messages are lambox's own: no
AWS answer for them is recorded.
"""

from __future__ import annotations

from lambox.errors import InvalidParameterValue
from lambox.model import FunctionConfig

PROVISIONED = "Provisioned concurrency"
SNAPSTART = "SnapStart"
FUNCTION_URLS = "A function URL"
EVENT_SOURCE_MAPPINGS = "An event source mapping"


def refuse(config: FunctionConfig, feature: str) -> None:
    """Raise AWS's error when ``config``'s function has tenant isolation."""
    if config.tenant_isolation:
        raise InvalidParameterValue(
            f"{feature} is not supported for functions with tenant isolation mode enabled."
        )
