"""Code signing configs: Create/Get/Update/Delete/ListCodeSigningConfigs and which function
uses which (Put/Get/DeleteFunctionCodeSigningConfig, ListFunctionsByCodeSigningConfig), and
the policy they set on CreateFunction and UpdateFunctionCode.

Configs are validated against botocore's model and stored with AWS's shapes and errors
(recorded: ``TestCodeSigningConfig``). A package deployed from S3 comes with the result of
checking the signature its object carries (lambox's Signer, services/signer): it is
*trusted* when signed by a profile version the config's AllowedPublishers lists, not
revoked, not expired. A signature that does not match the bytes fails the integrity check
and is refused whatever the policy (InvalidCodeSignatureException, as on AWS). Any other
package (unsigned, ZipFile uploads included, or signed by another profile, revoked,
expired) is *untrusted*: ``Enforce`` refuses it (CodeVerificationFailedException), ``Warn``
deploys it with a warning in the server's log. docs/lambda-api.md says so.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.functions import FunctionService, now_iso
from lambox.errors import (
    CodeSigningConfigMissing,
    CodeSigningConfigNotFound,
    CodeVerificationFailed,
    InvalidCodeSignature,
    ResourceConflict,
)
from lambox.store.code_signing import CodeSigningStore
from lambox.store.function_settings import SettingsStore

log = logging.getLogger(__name__)

BINDING = "code-signing"
DEFAULT_POLICY = "Warn"
DEFAULT_MAX_ITEMS = 50


class Checked(Protocol):
    """What checking a package's signature found (services/signer/signatures.py's
    SignatureCheck): ``valid``, ``expired``, ``revoked``, ``tampered`` or ``unsigned``, the
    profile version that signed it, and why, in words."""

    @property
    def status(self) -> str: ...

    @property
    def profile_version_arn(self) -> str | None: ...

    @property
    def detail(self) -> str: ...


class _Unsigned:
    """A package with no signature: code uploaded as ZipFile."""

    status = "unsigned"
    profile_version_arn: str | None = None
    detail = "the code was uploaded inline (ZipFile), not signed from S3"


UNSIGNED: Checked = _Unsigned()


class CodeSigningService:
    """Code signing configs and their functions."""

    def __init__(
        self,
        configs: CodeSigningStore,
        settings: SettingsStore,
        functions: FunctionService,
        arns: Arns,
    ) -> None:
        self._configs = configs
        self._settings = settings
        self._functions = functions
        self._arns = arns

    def arn(self, config_id: str) -> str:
        region, account = self._arns.region, self._arns.account_id
        return f"arn:aws:lambda:{region}:{account}:code-signing-config:{config_id}"

    # -- configs ---------------------------------------------------------------------------

    def create(self, params: Mapping[str, Any]) -> dict[str, Any]:
        shapes.validate("CreateCodeSigningConfig", params)
        config_id = "csc-" + secrets.token_hex(9)[:17]
        policies = params.get("CodeSigningPolicies") or {}
        config = {
            "CodeSigningConfigId": config_id,
            "CodeSigningConfigArn": self.arn(config_id),
            "Description": str(params.get("Description", "")),
            "AllowedPublishers": {
                "SigningProfileVersionArns": list(
                    params["AllowedPublishers"]["SigningProfileVersionArns"]
                )
            },
            "CodeSigningPolicies": {
                "UntrustedArtifactOnDeployment": policies.get(
                    "UntrustedArtifactOnDeployment", DEFAULT_POLICY
                )
            },
            "LastModified": now_iso(),
        }
        self._configs.put(config_id, config)
        return config

    def get(self, arn: str) -> dict[str, Any]:
        shapes.validate("GetCodeSigningConfig", {"CodeSigningConfigArn": arn})
        return self._existing(arn)

    def update(self, arn: str, params: Mapping[str, Any]) -> dict[str, Any]:
        shapes.validate("UpdateCodeSigningConfig", {**params, "CodeSigningConfigArn": arn})
        config = self._existing(arn)
        changed = dict(config)
        if "Description" in params:
            changed["Description"] = str(params["Description"])
        if "AllowedPublishers" in params:
            arns = list(params["AllowedPublishers"]["SigningProfileVersionArns"])
            changed["AllowedPublishers"] = {"SigningProfileVersionArns": arns}
        policies = params.get("CodeSigningPolicies") or {}
        if "UntrustedArtifactOnDeployment" in policies:
            changed["CodeSigningPolicies"] = {
                "UntrustedArtifactOnDeployment": policies["UntrustedArtifactOnDeployment"]
            }
        if changed != config:
            changed["LastModified"] = now_iso()
            self._configs.put(config["CodeSigningConfigId"], changed)
        return changed

    def delete(self, arn: str) -> None:
        shapes.validate("DeleteCodeSigningConfig", {"CodeSigningConfigArn": arn})
        config = self._existing(arn)
        users = self._users(config["CodeSigningConfigArn"])
        if users:
            raise ResourceConflict(
                "The code signing configuration cannot be deleted because it is used by the"
                f" following functions: {', '.join(self._arns.function(n) for n in users)}"
            )
        self._configs.delete(config["CodeSigningConfigId"])

    def list_page(
        self, marker: str | None, max_items: int | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        configs = self._configs.list_all()
        start = int(marker) if marker and marker.isdigit() else 0
        limit = max_items or DEFAULT_MAX_ITEMS
        page = configs[start : start + limit]
        return page, (str(start + limit) if start + limit < len(configs) else None)

    def functions_of(
        self, arn: str, marker: str | None, max_items: int | None
    ) -> tuple[list[str], str | None]:
        shapes.validate("ListFunctionsByCodeSigningConfig", {"CodeSigningConfigArn": arn})
        config = self._existing(arn)
        names = self._users(config["CodeSigningConfigArn"])
        start = int(marker) if marker and marker.isdigit() else 0
        limit = max_items or DEFAULT_MAX_ITEMS
        page = [self._arns.function(n) for n in names[start : start + limit]]
        return page, (str(start + limit) if start + limit < len(names) else None)

    # -- functions -------------------------------------------------------------------------

    def put_function(self, function_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        shapes.validate("PutFunctionCodeSigningConfig", {**params, "FunctionName": function_name})
        arn = str(params["CodeSigningConfigArn"])
        if self._configs.get(self._id_of(arn)) is None:
            raise CodeSigningConfigNotFound(
                "The code signing configuration cannot be found. Check that the provided"
                f" configuration is not deleted: {arn}."
            )
        name = self._functions.get(function_name).name
        self._settings.put(name, "", BINDING, {"CodeSigningConfigArn": arn})
        return {"CodeSigningConfigArn": arn, "FunctionName": name}

    def get_function(self, function_name: str) -> dict[str, Any]:
        shapes.validate("GetFunctionCodeSigningConfig", {"FunctionName": function_name})
        name = self._functions.get(function_name).name
        binding = self._settings.get(name, "", BINDING)
        if binding is None:
            return {}
        return {"CodeSigningConfigArn": binding["CodeSigningConfigArn"], "FunctionName": name}

    def delete_function(self, function_name: str) -> None:
        shapes.validate("DeleteFunctionCodeSigningConfig", {"FunctionName": function_name})
        name = self._functions.get(function_name).name
        self._settings.forget_kind(name, BINDING)

    # -- deployments -----------------------------------------------------------------------

    def config_for_create(
        self, params: Mapping[str, Any], checked: Checked = UNSIGNED
    ) -> str | None:
        """The CodeSigningConfigArn a CreateFunction names, once it exists and its policy
        lets the package through."""
        arn = params.get("CodeSigningConfigArn")
        if not isinstance(arn, str) or not arn:
            return None
        config = self._configs.get(self._id_of(arn))
        if config is None or config["CodeSigningConfigArn"] != arn:
            raise CodeSigningConfigNotFound(
                "The code signing configuration cannot be found. Check that the provided"
                f" configuration is not deleted: {arn}."
            )
        self._apply_policy(config, str(params.get("FunctionName", "")), checked)
        return arn

    def bind(self, name: str, arn: str) -> None:
        """Link a function created with a CodeSigningConfigArn to its config."""
        self._settings.put(name, "", BINDING, {"CodeSigningConfigArn": arn})

    def check_update(self, function_name: str, checked: Checked = UNSIGNED) -> None:
        """UpdateFunctionCode under the function's code signing config, if it has one."""
        name = self._functions.get(function_name).name
        binding = self._settings.get(name, "", BINDING)
        if binding is None:
            return
        config = self._configs.get(self._id_of(binding["CodeSigningConfigArn"]))
        if config is not None:
            self._apply_policy(config, name, checked)

    def _apply_policy(self, config: Mapping[str, Any], name: str, checked: Checked) -> None:
        arn = config["CodeSigningConfigArn"]
        allowed = config["AllowedPublishers"]["SigningProfileVersionArns"]
        if checked.status == "tampered":
            raise InvalidCodeSignature(
                "Lambda cannot deploy the function. The code signature failed the integrity"
                f" check: {checked.detail}."
            )
        if checked.status == "valid" and checked.profile_version_arn in allowed:
            return
        if checked.status == "valid":
            why = f"it is signed by {checked.profile_version_arn}, which {arn} does not allow"
        else:
            why = checked.detail
        if config["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Enforce":
            raise CodeVerificationFailed(
                "Lambda cannot deploy the function. The function or layer might be signed"
                " using a signature that the client is not configured to accept. Check the"
                f" provided signature for {self._arns.function(name)} ({why})."
            )
        log.warning("untrusted code of %s deployed (%s is Warn): %s", name, arn, why)

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _id_of(arn: str) -> str:
        return arn.rsplit(":", 1)[-1]

    def _existing(self, arn: str) -> dict[str, Any]:
        config = self._configs.get(self._id_of(arn))
        if config is None or config["CodeSigningConfigArn"] != arn:
            raise CodeSigningConfigMissing(
                f"The Lambda code signing configuration {arn} can not be found."
            )
        return config

    def _users(self, arn: str) -> list[str]:
        return [
            name
            for name, _, value in self._settings.all_of(BINDING)
            if value.get("CodeSigningConfigArn") == arn
        ]
