"""Lambda layers: publishing versions, their permission policies, and what a function's
``Layers`` resolve to.

A layer version is a zip in the code store plus a row in the layer store. A function names
up to five layer versions by ARN; ``resolve`` checks them as AWS does (count, one version
per layer, existence, 250 MB unzipped together with the function's own code) and hands back
what the function's configuration shows and the code store key of the merged ``/opt`` tree.
Deleting a layer version keeps its code: functions that use it go on running it, as on AWS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.functions import now_iso
from lambox.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambox.store.code import CodeStore
from lambox.store.layers import LayerVersion, SqliteLayerStore

MAX_LAYERS = 5
MAX_UNZIPPED = 262_144_000
DEFAULT_MAX_ITEMS = 50
NOT_FOUND = "The resource you requested does not exist."
LAYER_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[a-zA-Z0-9-_]+)(:(?P<version>[0-9]+))?"
)
GET_ACTION = "lambda:GetLayerVersion"


def _decode_zip(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from exc


class LayerService:
    """The control plane for layers. The only writer of layer state."""

    def __init__(self, store: SqliteLayerStore, code: CodeStore, arns: Arns, base_url: str) -> None:
        self._store = store
        self._code = code
        self._arns = arns
        self._base_url = base_url

    # -- ARNs ----------------------------------------------------------------------------

    def layer_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self._arns.region}:{self._arns.account_id}:layer:{name}"

    def version_arn(self, name: str, version: int) -> str:
        return f"{self.layer_arn(name)}:{version}"

    def _name(self, layer_name: str) -> str:
        """The bare name of a LayerName parameter (a name or a layer ARN)."""
        m = LAYER_ARN.fullmatch(layer_name)
        return m["name"] if m else layer_name

    # -- layer versions ------------------------------------------------------------------

    async def publish(self, layer_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        shapes.validate("PublishLayerVersion", {"LayerName": layer_name, **params})
        content = params.get("Content") or {}
        if "ZipFile" not in content:
            raise InvalidParameterValue(
                "lambox needs the layer content inline: pass Content.ZipFile (S3 code"
                " locations are not supported yet)."
            )
        blob = await asyncio.to_thread(self._code.put, _decode_zip(content["ZipFile"]))
        unzipped = await asyncio.to_thread(self._code.unzipped_size, blob.key)
        license_info = params.get("LicenseInfo")
        layer = self._store.publish(
            LayerVersion(
                name=self._name(layer_name),
                version=0,
                code_key=blob.key,
                code_sha256=blob.sha256,
                code_size=blob.size,
                unzipped_size=unzipped,
                created=now_iso(),
                description=str(params.get("Description", "")),
                license_info=None if license_info is None else str(license_info),
                runtimes=tuple(params.get("CompatibleRuntimes") or ()),
                architectures=tuple(params.get("CompatibleArchitectures") or ()),
            )
        )
        return self.view(layer)

    def get(self, layer_name: str, version: object) -> dict[str, Any]:
        shapes.validate(
            "GetLayerVersion", {"LayerName": layer_name, "VersionNumber": _int(version)}
        )
        layer = self._store.get(self._name(layer_name), _version(version))
        if layer is None:
            raise ResourceNotFound(NOT_FOUND)
        return self.view(layer)

    def get_by_arn(self, arn: str) -> dict[str, Any]:
        shapes.validate("GetLayerVersionByArn", {"Arn": arn})
        m = LAYER_ARN.fullmatch(arn)
        if m is None or m["version"] is None or not self._local(m):
            raise ResourceNotFound(NOT_FOUND)
        return self.get(m["name"], m["version"])

    def list_versions(self, layer_name: str, query: Mapping[str, str]) -> dict[str, Any]:
        shapes.validate("ListLayerVersions", {"LayerName": layer_name, **query})
        found = [
            layer
            for layer in self._store.versions(self._name(layer_name))
            if _matches(layer, query)
        ]
        page, marker = _page(found, query, lambda layer: str(layer.version))
        body: dict[str, Any] = {"LayerVersions": [self.entry(layer) for layer in page]}
        if marker:
            body["NextMarker"] = marker
        return body

    def list_layers(self, query: Mapping[str, str]) -> dict[str, Any]:
        shapes.validate("ListLayers", dict(query))
        found: list[LayerVersion] = []
        for newest in self._store.latest_of_each():
            matching = [v for v in self._store.versions(newest.name) if _matches(v, query)]
            if matching:
                found.append(matching[0])
        page, marker = _page(found, query, lambda layer: layer.name)
        body: dict[str, Any] = {
            "Layers": [
                {
                    "LayerName": layer.name,
                    "LayerArn": self.layer_arn(layer.name),
                    "LatestMatchingVersion": self.entry(layer),
                }
                for layer in page
            ]
        }
        if marker:
            body["NextMarker"] = marker
        return body

    def delete(self, layer_name: str, version: object) -> None:
        """DeleteLayerVersion; an absent version is fine (204), as on AWS. The code stays:
        functions created with the version keep running it."""
        shapes.validate(
            "DeleteLayerVersion", {"LayerName": layer_name, "VersionNumber": _int(version)}
        )
        self._store.delete(self._name(layer_name), _version(version))

    # -- permissions ---------------------------------------------------------------------

    def add_permission(
        self, layer_name: str, version: object, params: Mapping[str, Any], revision: str | None
    ) -> dict[str, Any]:
        shapes.validate(
            "AddLayerVersionPermission",
            {"LayerName": layer_name, "VersionNumber": _int(version), **params},
        )
        layer = self._for_policy(layer_name, version)
        _check_revision(layer, revision or params.get("RevisionId"))
        sid = str(params["StatementId"])
        if any(s["Sid"] == sid for s in layer.statements):
            raise ResourceConflict(
                f"The statement id ({sid}) provided already exists. Please provide a new"
                " statement id, or remove the existing statement."
            )
        principal = str(params["Principal"])
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal
            if principal == "*" or principal.startswith("arn:")
            else {"AWS": f"arn:aws:iam::{principal}:root"},
            "Action": str(params["Action"]),
            "Resource": self.version_arn(layer.name, layer.version),
        }
        if params.get("OrganizationId"):
            statement["Condition"] = {
                "StringEquals": {"aws:PrincipalOrgID": str(params["OrganizationId"])}
            }
        updated = replace(
            layer, statements=(*layer.statements, statement), policy_revision=str(uuid.uuid4())
        )
        self._store.replace(updated)
        return {"Statement": json.dumps(statement), "RevisionId": updated.policy_revision}

    def get_policy(self, layer_name: str, version: object) -> dict[str, Any]:
        shapes.validate(
            "GetLayerVersionPolicy", {"LayerName": layer_name, "VersionNumber": _int(version)}
        )
        layer = self._for_policy(layer_name, version)
        if not layer.statements:
            raise ResourceNotFound("No policy is associated with the given resource.")
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(layer.statements)}
        return {"Policy": json.dumps(policy), "RevisionId": layer.policy_revision}

    def remove_permission(
        self, layer_name: str, version: object, sid: str, revision: str | None
    ) -> None:
        shapes.validate(
            "RemoveLayerVersionPermission",
            {"LayerName": layer_name, "VersionNumber": _int(version), "StatementId": sid},
        )
        layer = self._for_policy(layer_name, version)
        kept = tuple(s for s in layer.statements if s["Sid"] != sid)
        if len(kept) == len(layer.statements):
            raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
        _check_revision(layer, revision)
        self._store.replace(replace(layer, statements=kept, policy_revision=str(uuid.uuid4())))

    def _for_policy(self, layer_name: str, version: object) -> LayerVersion:
        name = self._name(layer_name)
        number = _version(version)
        layer = self._store.get(name, number)
        if layer is None:
            raise ResourceNotFound(
                f"Layer version {self.version_arn(name, number)} does not exist."
            )
        return layer

    # -- a function's layers -------------------------------------------------------------

    def resolve(
        self, arns: Sequence[str], code_key: str
    ) -> tuple[tuple[tuple[str, int], ...], str]:
        """Check a function's ``Layers`` as AWS does and merge them into its /opt tree:
        ((LayerVersionArn, CodeSize) in order, the merged tree's code store key).
        ``code_key`` is the function's own code, counted in the 250 MB limit."""
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValue(f"Cannot reference more than {MAX_LAYERS} layers.")
        seen: dict[str, str] = {}
        for arn in arns:
            m = LAYER_ARN.fullmatch(arn)
            key = m["name"] if m else arn
            if key in seen:
                raise InvalidParameterValue(
                    "Two different versions of the same layer are not allowed to be referenced"
                    f" in the same function. {seen[key]} and {arn} are versions of the same layer."
                )
            seen[key] = arn
        layers: list[LayerVersion] = []
        for arn in arns:
            m = LAYER_ARN.fullmatch(arn)
            found = None
            if m is not None and m["version"] is not None and self._local(m):
                found = self._store.get(m["name"], int(m["version"]))
            if found is None:
                raise InvalidParameterValue(f"Layer version {arn} does not exist.")
            layers.append(found)
        if not layers:
            return (), ""
        total = self._code.unzipped_size(code_key) + sum(v.unzipped_size for v in layers)
        if total > MAX_UNZIPPED:  # the same check as FunctionService._check_with_layers
            raise InvalidParameterValue(
                "Function code combined with layers exceeds the maximum allowed size of"
                f" {MAX_UNZIPPED} bytes. The actual size is {total} bytes."
            )
        tree = self._code.merged(tuple(v.code_key for v in layers))
        refs = tuple((self.version_arn(v.name, v.version), v.code_size) for v in layers)
        return refs, tree.name

    def _local(self, m: re.Match[str]) -> bool:
        return m["region"] == self._arns.region and m["account"] == self._arns.account_id

    def unzipped_total(self, arns: Sequence[str]) -> int:
        """Unzipped bytes of the layer versions ``arns`` still published (a function keeps
        running a deleted one, whose size is no longer known)."""
        total = 0
        for arn in arns:
            m = LAYER_ARN.fullmatch(arn)
            if m is not None and m["version"] is not None and self._local(m):
                found = self._store.get(m["name"], int(m["version"]))
                total += found.unzipped_size if found is not None else 0
        return total

    def stored_code_size(self) -> int:
        """Bytes of layer code the account stores: every version of every layer, as
        GetAccountSettings' AccountUsage.TotalCodeSize counts them on AWS."""
        return sum(
            v.code_size
            for latest in self._store.latest_of_each()
            for v in self._store.versions(latest.name)
        )

    def uses_code(self, code_key: str) -> bool:
        """Whether a layer version's content is the code store blob ``code_key``."""
        return self._store.code_in_use(code_key)

    # -- views ---------------------------------------------------------------------------

    def entry(self, layer: LayerVersion) -> dict[str, Any]:
        """LayerVersionsListItem: a version without its content."""
        view: dict[str, Any] = {
            "LayerVersionArn": self.version_arn(layer.name, layer.version),
            "Version": layer.version,
            "Description": layer.description,
            "CreatedDate": layer.created,
            "CompatibleRuntimes": list(layer.runtimes),
            "CompatibleArchitectures": list(layer.architectures),
        }
        if layer.license_info is not None:
            view["LicenseInfo"] = layer.license_info
        return view

    def view(self, layer: LayerVersion) -> dict[str, Any]:
        """GetLayerVersion / PublishLayerVersion."""
        return {
            "Content": {
                "Location": f"{self._base_url}/lambox/v1/code/{layer.code_key}.zip",
                "CodeSha256": layer.code_sha256,
                "CodeSize": layer.code_size,
            },
            "LayerArn": self.layer_arn(layer.name),
            **self.entry(layer),
        }


def _int(value: object) -> object:
    """A path segment as the model's integer when it is one (validation then reads it)."""
    text = str(value)
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else text


def _version(value: object) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ResourceNotFound(NOT_FOUND) from None
    if number < 1:
        raise InvalidParameterValue("Layer Version Cannot be less than 1")
    return number


def _check_revision(layer: LayerVersion, given: object) -> None:
    if given is not None and given != layer.policy_revision:
        raise PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the"
            " GetLayerPolicy API to retrieve the latest Revision Id"
        )


def _matches(layer: LayerVersion, query: Mapping[str, str]) -> bool:
    runtime = query.get("CompatibleRuntime")
    arch = query.get("CompatibleArchitecture")
    if runtime and runtime not in layer.runtimes:
        return False
    return not (arch and arch not in layer.architectures)


def _page(
    items: list[LayerVersion], query: Mapping[str, str], key: Any
) -> tuple[list[LayerVersion], str | None]:
    limit = int(query.get("MaxItems") or DEFAULT_MAX_ITEMS)
    marker = query.get("Marker")
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise InvalidParameterValue("Invalid Marker.") from exc
        keys = [key(item) for item in items]
        items = items[keys.index(after) + 1 :] if after in keys else []
    page = items[:limit]
    if len(items) > limit and page:
        return page, base64.urlsafe_b64encode(key(page[-1]).encode()).decode()
    return page, None
