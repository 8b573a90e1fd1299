"""Published versions: immutable snapshots of a function's code and configuration.

A version is a copy of ``$LATEST`` under the next number of the function's counter
(numbers are never reused). Publishing when nothing changed since the newest version
returns that version instead, as AWS does.

A version of a SnapStart function is published ``Pending``, as on AWS: the data plane takes
its snapshot first and then calls ``activate``. Until then invoking it is a conflict.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes
from lambox.control.functions import FunctionService, now_iso
from lambox.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lambox.model import LATEST, FunctionConfig, State, UpdateStatus
from lambox.store.functions import FunctionStore
from lambox.watch import ChangeFeed, Removed

_ALIAS = re.compile(r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
_IGNORED = {
    "revision_id": "",
    "last_modified": "",
    "version": "",
    "description": "",
    "tags": {},
    "state": State.ACTIVE,
    "last_update_status": UpdateStatus.SUCCESSFUL,
}


def _same_release(a: FunctionConfig, b: FunctionConfig) -> bool:
    """Whether two configurations run the same code the same way (what publishing copies)."""
    return replace(a, **_IGNORED) == replace(b, **_IGNORED)  # type: ignore[arg-type]


class VersionService:
    """PublishVersion, ListVersionsByFunction and deleting one version."""

    def __init__(
        self, store: FunctionStore, feed: ChangeFeed, functions: FunctionService, arns: Arns
    ) -> None:
        self._store = store
        self._feed = feed
        self._functions = functions
        self._arns = arns

    def publish(self, function_name: str, params: Mapping[str, Any]) -> FunctionConfig:
        shapes.validate("PublishVersion", {"FunctionName": function_name, **params})
        latest = self._functions.get(function_name)
        name = latest.name
        if latest.state is State.PENDING or latest.last_update_status is UpdateStatus.IN_PROGRESS:
            raise ResourceConflict(
                "The operation cannot be performed at this time. An update is in progress for"
                f" resource: {self._arns.function(name)}"
            )
        self._functions.check_revision(latest, params.get("RevisionId"))
        sha = params.get("CodeSha256")
        if sha is not None and sha != latest.code_sha256:
            raise InvalidParameterValue(
                f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST"
                f" ({latest.code_sha256}). Please try again with the CodeSHA256 in $LATEST."
            )
        return self.release(latest, str(params.get("Description", latest.description)))

    def release(self, latest: FunctionConfig, description: str) -> FunctionConfig:
        """Publish ``latest`` (the ``$LATEST`` just written) as the next version; the newest
        version if nothing changed since it. Also the ``Publish`` flag of CreateFunction and
        UpdateFunctionCode, which publish the configuration they wrote while ``$LATEST`` is
        still ``Pending``/``InProgress`` (AWS answers those calls with the new version)."""
        name = latest.name
        published = [c for c in self._store.list_versions(name) if c.version != LATEST]
        if published and _same_release(published[-1], latest):
            return published[-1]
        number = self._store.next_version(name)
        version = replace(
            latest,
            version=str(number),
            revision_id=str(uuid.uuid4()),
            last_modified=now_iso(),
            description=description,
            state=State.PENDING if latest.snap_start else State.ACTIVE,
            last_update_status=UpdateStatus.SUCCESSFUL,
        )
        self._store.insert(version)
        stored = self._store.get(name, LATEST) or latest
        self._store.replace(replace(stored, revision_id=str(uuid.uuid4())))
        self._functions.publish_snapshot(version)
        return version

    def activate(self, pending: FunctionConfig) -> None:
        """The data plane is ready for the ``Pending`` version ``pending`` (its snapshot is
        taken, or its sandboxes will initialize on demand): make it ``Active``. A version
        deleted or replaced meanwhile is left alone."""
        stored = self._store.get(pending.name, pending.version)
        if stored is None or stored.revision_id != pending.revision_id:
            return
        if stored.state is State.PENDING:
            active = replace(stored, state=State.ACTIVE)
            self._store.replace(active)
            self._functions.publish_snapshot(active)

    def fail(self, pending: FunctionConfig, reason_code: str, reason: str) -> None:
        """The data plane cannot run the ``Pending`` version ``pending`` (its SnapStart
        snapshot failed: the function's init raised or exited): make it ``Failed`` with
        ``reason_code`` (botocore's StateReasonCode) and ``reason``, so invoking it is a
        ResourceConflictException, as on AWS. A version deleted or replaced meanwhile is
        left alone."""
        stored = self._store.get(pending.name, pending.version)
        if stored is None or stored.revision_id != pending.revision_id:
            return
        if stored.state is State.PENDING:
            failed = replace(
                stored,
                state=State.FAILED,
                last_update_status=UpdateStatus.FAILED,
                state_reason_code=reason_code,
                state_reason=reason,
            )
            self._store.replace(failed)
            self._functions.publish_snapshot(failed)

    def list(
        self, function_name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionConfig], str | None]:
        name = self._functions.get(function_name).name
        versions = self._store.list_versions(name)
        start = int(marker) if marker and marker.isdigit() else 0
        limit = max_items or 50
        page = versions[start : start + limit]
        more = start + limit < len(versions)
        return page, (str(start + limit) if more else None)

    def delete(self, name: str, version: str) -> None:
        """Delete one published version; a version that does not exist is a no-op (AWS
        answers 204), an alias name is refused as AWS refuses it."""
        if not version.isdigit():
            if _ALIAS.fullmatch(version):
                raise InvalidParameterValue("Deletion of aliases is not currently supported.")
            raise ResourceNotFound(f"Function not found: {self._arns.function(name)}")
        self._functions.get(name)
        if self._store.get(name, version) is None:
            return
        users = sorted(
            a.name
            for a in self._store.list_aliases(name)
            if version in (a.function_version, a.additional_version)
        )
        if users:
            raise ResourceConflict(
                "Unable to delete version because the following aliases reference it:"
                f" [{', '.join(users)}]"
            )
        self._store.delete_version(name, version)
        self._store.delete_provisioned(name, version)
        self._feed.publish(Removed(name, self._feed.next_generation(), version))

    def require(self, name: str, version: str) -> FunctionConfig:
        """The published version, or AWS's not-found error for it."""
        config = self._store.get(name, version)
        if config is None:
            raise ResourceNotFound(f"Function not found: {self._arns.function(name, version)}")
        return config
