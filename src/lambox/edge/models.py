"""botocore's service models, loaded once per service and shared by the protocol layer."""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import ServiceModel


@cache
def _loader() -> Any:
    return Loader()


@cache
def service_model(name: str) -> Any:
    """The botocore ``ServiceModel`` of service ``name`` (e.g. ``"s3"``)."""
    return ServiceModel(_loader().load_service_model(name, "service-2"), name)
