"""botocore's service models, loaded once per service and shared by the protocol layer.

botocore is imported on the first model asked for, not with this module: importing it (and
urllib3 with it) was a fifth of lambox's start-up, before any request needed a model.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _loader() -> Any:
    from botocore.loaders import Loader

    return Loader()


@cache
def service_model(name: str) -> Any:
    """The botocore ``ServiceModel`` of service ``name`` (e.g. ``"s3"``)."""
    from botocore.model import ServiceModel

    return ServiceModel(_loader().load_service_model(name, "service-2"), name)
