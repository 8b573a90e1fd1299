"""Capacity providers and function scaling configs, as one self-hosted machine can honour them.

On AWS a capacity provider (Lambda Managed Instances) is a fleet of EC2 instances in the
customer's VPC that runs the functions attached to it, and a function version's scaling
config (Min/MaxExecutionEnvironments) bounds how many execution environments it gets there.
lambox has one machine and no VPCs: a capacity provider is stored, validated against
botocore's model and reported with AWS's shapes, and functions attach to it with
``CapacityProviderConfig``; none of its VPC, instance or vCPU settings changes where or how a
function runs. What does map is the ceiling: a version's ``MaxExecutionEnvironments`` becomes
a cap on that version's concurrent invocations in the scheduler (one lambox sandbox runs one
invocation at a time), beyond which invokes are throttled (429) like reserved concurrency.
``MinExecutionEnvironments`` is stored and reported, not kept warm. docs/lambda-api.md says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.functions import FunctionService, now_iso
from lambox.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lambox.model import LATEST
from lambox.store.capacity_providers import CapacityProviderStore
from lambox.store.function_settings import SettingsStore
from lambox.store.functions import FunctionStore

ATTACHMENT = "capacity-provider"
SCALING = "scaling"
LATEST_PUBLISHED = "$LATEST.PUBLISHED"
DEFAULT_MAX_ITEMS = 50
_REPORTED = (
    "VpcConfig",
    "PermissionsConfig",
    "InstanceRequirements",
    "CapacityProviderScalingConfig",
    "KmsKeyArn",
    "PropagateTags",
    "TelemetryConfig",
)


def ceilings(settings: SettingsStore, name: str) -> dict[str, int]:
    """Version -> MaxExecutionEnvironments of ``name``'s scaling configs: the concurrency
    caps the scheduler enforces (``$LATEST.PUBLISHED`` is stored and reported only)."""
    return {
        qualifier: int(value["MaxExecutionEnvironments"])
        for stored_name, qualifier, value in settings.all_of(SCALING)
        if stored_name == name
        and qualifier.isdigit()
        and value.get("MaxExecutionEnvironments") is not None
    }


class CapacityService:
    """Create/Get/Update/Delete/ListCapacityProviders, ListFunctionVersionsByCapacityProvider,
    Put/GetFunctionScalingConfig, and which function runs on which provider."""

    def __init__(
        self,
        providers: CapacityProviderStore,
        settings: SettingsStore,
        functions: FunctionService,
        store: FunctionStore,
        arns: Arns,
        limits_changed: Callable[[str], None],
    ) -> None:
        self._providers = providers
        self._settings = settings
        self._functions = functions
        self._store = store
        self._arns = arns
        # Republishes a function's concurrency limits (its ceilings changed).
        self._limits_changed = limits_changed

    def arn(self, name: str) -> str:
        region, account = self._arns.region, self._arns.account_id
        return f"arn:aws:lambda:{region}:{account}:capacity-provider:{name}"

    # -- providers -------------------------------------------------------------------------

    def create(self, params: Mapping[str, Any]) -> dict[str, Any]:
        shapes.validate("CreateCapacityProvider", params)
        name = _name_of(str(params["CapacityProviderName"]))
        if self._providers.get(name) is not None:
            raise ResourceConflict(f"Capacity provider already exists: {self.arn(name)}")
        requirements = dict(params.get("InstanceRequirements") or {})
        if requirements.get("AllowedInstanceTypes") and requirements.get("ExcludedInstanceTypes"):
            raise InvalidParameterValue(
                "You can specify either AllowedInstanceTypes or ExcludedInstanceTypes, not both."
            )
        requirements.setdefault("Architectures", ["x86_64"])
        provider: dict[str, Any] = {
            "CapacityProviderArn": self.arn(name),
            "State": "Active",
            "VpcConfig": params["VpcConfig"],
            "PermissionsConfig": params["PermissionsConfig"],
            "InstanceRequirements": requirements,
            "CapacityProviderScalingConfig": params.get("CapacityProviderScalingConfig")
            or {"ScalingMode": "Auto"},
            "LastModified": now_iso(),
        }
        for member in ("KmsKeyArn", "PropagateTags", "TelemetryConfig"):
            if member in params:
                provider[member] = params[member]
        self._providers.put(name, {**provider, "Tags": dict(params.get("Tags") or {})})
        return _view(provider)

    def get(self, name: str) -> dict[str, Any]:
        shapes.validate("GetCapacityProvider", {"CapacityProviderName": name})
        return _view(self._existing(name))

    def update(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        shapes.validate("UpdateCapacityProvider", {**params, "CapacityProviderName": name})
        provider = self._existing(name)
        for member in ("CapacityProviderScalingConfig", "PropagateTags", "TelemetryConfig"):
            if member in params:
                provider[member] = params[member]
        provider["LastModified"] = now_iso()
        self._providers.put(_name_of(name), provider)
        return _view(provider)

    def delete(self, name: str) -> dict[str, Any]:
        shapes.validate("DeleteCapacityProvider", {"CapacityProviderName": name})
        provider = self._existing(name)
        users = self._users(provider["CapacityProviderArn"])
        if users:
            raise ResourceConflict(
                "The capacity provider cannot be deleted because it is used by the following"
                f" functions: {', '.join(self._arns.function(n) for n in users)}"
            )
        self._providers.delete(_name_of(name))
        return _view({**provider, "State": "Deleting"})

    def list_page(
        self, state: str | None, marker: str | None, max_items: int | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        shapes.validate(
            "ListCapacityProviders",
            {k: v for k, v in (("State", state), ("MaxItems", max_items)) if v is not None},
        )
        found = [p for p in self._providers.list_all() if state in (None, p["State"])]
        page, next_marker = _page(found, marker, max_items)
        return [_view(p) for p in page], next_marker

    def function_versions(
        self, name: str, marker: str | None, max_items: int | None
    ) -> tuple[str, list[dict[str, Any]], str | None]:
        shapes.validate("ListFunctionVersionsByCapacityProvider", {"CapacityProviderName": name})
        arn = self._existing(name)["CapacityProviderArn"]
        items = [
            {"FunctionArn": self._arns.function(c.name, c.version), "State": c.state.value}
            for fn in self._users(arn)
            for c in self._store.list_versions(fn)
            if c.version != LATEST
        ]
        page, next_marker = _page(items, marker, max_items)
        return arn, page, next_marker

    # -- functions on providers ------------------------------------------------------------

    def config_for(
        self, operation: str, function_name: str, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The CapacityProviderConfig a CreateFunction/UpdateFunctionConfiguration names,
        once the request is valid by the model and its provider exists (checked before the
        function is written)."""
        if params.get("CapacityProviderConfig") is None:
            return None
        shapes.validate(operation, {**params, "FunctionName": function_name})
        config = params["CapacityProviderConfig"]
        inner = config["LambdaManagedInstancesCapacityProviderConfig"]
        arn = str(inner["CapacityProviderArn"])
        provider = self._providers.get(_name_of(arn))
        if provider is None or provider["CapacityProviderArn"] != arn:
            raise InvalidParameterValue(f"Capacity provider not found: {arn}")
        return dict(config)

    def attach(self, name: str, config: Mapping[str, Any]) -> None:
        self._settings.put(name, "", ATTACHMENT, dict(config))

    def attached(self, name: str) -> dict[str, Any] | None:
        """The function's CapacityProviderConfig, as its configuration reports it."""
        return self._settings.get(name, "", ATTACHMENT)

    # -- scaling configs -------------------------------------------------------------------

    def put_scaling(
        self, function_name: str, qualifier: str | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        shapes.validate(
            "PutFunctionScalingConfig",
            {**params, "FunctionName": function_name, "Qualifier": qualifier},
        )
        assert qualifier is not None  # required by the model
        name, state = self._version(function_name, qualifier)
        scaling = dict(params.get("FunctionScalingConfig") or {})
        low = scaling.get("MinExecutionEnvironments")
        high = scaling.get("MaxExecutionEnvironments")
        if low is not None and high is not None and low > high:
            raise InvalidParameterValue(
                "MinExecutionEnvironments must be less than or equal to MaxExecutionEnvironments."
            )
        self._settings.put(name, qualifier, SCALING, scaling)
        self._limits_changed(name)
        return {"FunctionState": state}

    def get_scaling(self, function_name: str, qualifier: str | None) -> dict[str, Any]:
        shapes.validate(
            "GetFunctionScalingConfig", {"FunctionName": function_name, "Qualifier": qualifier}
        )
        assert qualifier is not None  # required by the model
        name, _ = self._version(function_name, qualifier)
        answer: dict[str, Any] = {"FunctionArn": self._arns.function(name, qualifier)}
        stored = self._settings.get(name, qualifier, SCALING)
        if stored is not None:
            # Applied at once: nothing is provisioned in between on one machine.
            answer["RequestedFunctionScalingConfig"] = stored
            answer["AppliedFunctionScalingConfig"] = stored
        return answer

    # -- internals -------------------------------------------------------------------------

    def _version(self, function_name: str, qualifier: str) -> tuple[str, str]:
        """(name, state) of the published version a scaling config addresses."""
        latest = self._functions.get(function_name)
        name = latest.name
        versions = [c for c in self._store.list_versions(name) if c.version != LATEST]
        if qualifier == LATEST_PUBLISHED:
            found = versions[-1] if versions else None
        else:
            found = next((c for c in versions if c.version == qualifier), None)
        if found is None:
            raise ResourceNotFound(f"Function not found: {self._arns.function(name, qualifier)}")
        return name, found.state.value

    def _existing(self, name: str) -> dict[str, Any]:
        provider = self._providers.get(_name_of(name))
        if provider is None or (
            name.startswith("arn:") and provider["CapacityProviderArn"] != name
        ):
            raise ResourceNotFound(f"Capacity provider not found: {name}")
        return provider

    def _users(self, arn: str) -> list[str]:
        return [
            name
            for name, _, value in self._settings.all_of(ATTACHMENT)
            if value["LambdaManagedInstancesCapacityProviderConfig"]["CapacityProviderArn"] == arn
        ]


def _name_of(name_or_arn: str) -> str:
    return name_or_arn.rsplit(":", 1)[-1]


def _view(provider: Mapping[str, Any]) -> dict[str, Any]:
    """The CapacityProvider shape (tags are kept beside it, not reported in it)."""
    view = {"CapacityProviderArn": provider["CapacityProviderArn"], "State": provider["State"]}
    view.update({k: provider[k] for k in _REPORTED if k in provider})
    view["LastModified"] = provider["LastModified"]
    return view


def _page(
    items: list[dict[str, Any]], marker: str | None, max_items: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    start = int(marker) if marker and marker.isdigit() else 0
    limit = max_items or DEFAULT_MAX_ITEMS
    page = items[start : start + limit]
    return page, (str(start + limit) if start + limit < len(items) else None)
