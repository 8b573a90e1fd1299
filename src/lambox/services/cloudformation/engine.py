"""The provisioning engine: a template and parameters in, resources created, updated,
replaced or deleted in dependency order, every step an event; on a failure the stack rolls
back to where it was, as CloudFormation does, and the events say why.

One deployment runs at a time per stack (the stack's status says IN_PROGRESS meanwhile and
the service refuses another). Each resource's resolved properties are stored with it, so an
update compares what is deployed with what is asked, and a rollback re-applies what was.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lambox.errors import LamboxError, ServiceFault
from lambox.services.cloudformation import intrinsics
from lambox.services.cloudformation.intrinsics import Context
from lambox.services.cloudformation.resources import Handler, Provisioned
from lambox.services.cloudformation.store import Event, Resource, Stack, StackStore
from lambox.services.cloudformation.template import validation

log = logging.getLogger(__name__)

RETAIN = "Retain"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def unsupported(kind: str) -> str:
    return f"lambox does not serve resource type {kind} yet"


class Failed(Exception):
    """A resource failed: ``logical_id`` and why."""

    def __init__(
        self,
        logical_id: str,
        reason: str,
        resource: bool = True,
        partly: tuple[Resource, Resource] | None = None,
    ) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason
        self.resource = resource  # False: an output could not be made
        # (as it was, as the failed update meant it): an update in place that failed
        # after some of its steps, which the rollback puts back too.
        self.partly = partly


@dataclass
class Plan:
    """A template evaluated against parameters: the resources it keeps, in order."""

    template: dict[str, Any]
    context: Context
    order: list[str]
    resources: dict[str, dict[str, Any]]  # logical id -> its template entry
    parameters: list[dict[str, str]] = field(default_factory=list)


def _parameter_values(
    declared: Mapping[str, Any], given: Mapping[str, str]
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    values: dict[str, Any] = {}
    shown: list[dict[str, str]] = []
    unknown = [k for k in given if k not in declared]
    if unknown:
        raise validation(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = []
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in given:
            raw = str(given[name])
        elif "Default" in spec:
            raw = str(spec["Default"])
        else:
            missing.append(name)
            continue
        allowed = spec.get("AllowedValues")
        if allowed and raw not in [str(a) for a in allowed]:
            raise validation(f"Parameter '{name}' must be one of AllowedValues")
        kind = str(spec.get("Type", "String"))
        values[name] = (
            raw.split(",") if kind.startswith("List<") or kind == "CommaDelimitedList" else raw
        )
        shown.append(
            {"ParameterKey": name, "ParameterValue": "****" if spec.get("NoEcho") else raw}
        )
    if missing:
        raise validation(f"Parameters: [{', '.join(missing)}] must have values")
    return values, shown


def plan(
    template: dict[str, Any],
    given: Mapping[str, str],
    pseudo: Mapping[str, str],
    exports: Mapping[str, str] | None = None,
) -> Plan:
    """Evaluate parameters and conditions, pick the resources, order them (cycles and
    references to nothing are a ValidationError, before anything is touched)."""
    values, shown = _parameter_values(template.get("Parameters") or {}, given)
    ctx = Context(
        parameters=values,
        pseudo=pseudo,
        mappings=template.get("Mappings") or {},
        condition_defs=template.get("Conditions") or {},
        exports=dict(exports or {}),
    )
    for name in ctx.condition_defs:
        ctx.condition(name)
    resources: dict[str, dict[str, Any]] = {}
    for logical_id, entry in (template.get("Resources") or {}).items():
        if not isinstance(entry, dict) or "Type" not in entry:
            raise validation(
                f"Template format error: [/Resources/{logical_id}] Every Resources object"
                " must contain a Type member."
            )
        condition = entry.get("Condition")
        if condition is not None and not ctx.condition(str(condition)):
            continue
        resources[logical_id] = entry
    every = template.get("Resources") or {}
    deps: dict[str, set[str]] = {}
    for logical_id, entry in resources.items():
        refs = intrinsics.references(entry.get("Properties") or {}, every)
        depends = entry.get("DependsOn") or []
        refs |= set([depends] if isinstance(depends, str) else depends)
        known = {*every, *values, *pseudo, intrinsics.NO_VALUE}
        refs |= intrinsics.names(entry.get("Properties") or {}) - known
        absent = sorted(r for r in refs if r not in every)
        if absent:
            raise validation(
                f"Template format error: Unresolved resource dependencies [{', '.join(absent)}]"
                " in the Resources block of the template"
            )
        deps[logical_id] = {r for r in refs if r in resources}
    for arg in intrinsics.imports([resources, template.get("Outputs") or {}]):
        try:
            name = intrinsics._text(intrinsics.resolve(arg, ctx))
        except ServiceFault:
            continue  # names a resource's value: checked when it is resolved
        if name not in ctx.exports:
            raise validation(f"No export named {name} found.")
    return Plan(template, ctx, _order(deps), resources, shown)


def _order(deps: Mapping[str, set[str]]) -> list[str]:
    order: list[str] = []
    done: set[str] = set()
    pending = dict(deps)
    while pending:
        ready = sorted(k for k, d in pending.items() if d <= done)
        if not ready:
            raise validation(
                f"Circular dependency between resources: [{', '.join(sorted(pending))}]"
            )
        for k in ready:
            order.append(k)
            done.add(k)
            del pending[k]
    return order


class Engine:
    """Runs deployments and deletions of stacks through the resource ``handlers``."""

    def __init__(self, store: StackStore, handlers: Mapping[str, Handler]) -> None:
        self._store = store
        self._handlers = handlers

    # -- events ------------------------------------------------------------------------

    def event(
        self,
        stack: Stack,
        logical_id: str,
        kind: str,
        status: str,
        physical_id: str = "",
        reason: str | None = None,
    ) -> None:
        self._store.add_event(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                event_id=str(uuid.uuid4()),
                logical_id=logical_id,
                physical_id=physical_id,
                type=kind,
                status=status,
                timestamp=now(),
                reason=reason,
            )
        )

    def set_status(self, stack: Stack, status: str, reason: str | None = None) -> None:
        stack.status = status
        stack.reason = reason
        if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
            stack.updated = now() if not status.startswith("CREATE") else stack.updated
        self._store.put_stack(stack)
        self.event(stack, stack.name, "AWS::CloudFormation::Stack", status, stack.stack_id, reason)

    # -- deploy ------------------------------------------------------------------------

    async def deploy(self, stack: Stack, new: Plan, creating: bool) -> None:
        """Bring ``stack``'s resources to ``new``; roll back on a failure."""
        verb = "CREATE" if creating else "UPDATE"
        self.set_status(stack, f"{verb}_IN_PROGRESS", "User Initiated")
        before = self._store.resources(stack.stack_id)
        ctx = new.context
        touched: list[tuple[str, Resource | None, Resource]] = []  # (id, old, new)
        replaced: list[Resource] = []
        try:
            for logical_id in new.order:
                entry = new.resources[logical_id]
                old = before.get(logical_id)
                result = await self._apply(stack, logical_id, entry, old, ctx)
                if result is None:  # unchanged
                    assert old is not None
                    ctx.resources[logical_id] = (old.ref, old.attributes)
                    continue
                current, was_replaced = result
                ctx.resources[logical_id] = (current.ref, current.attributes)
                touched.append((logical_id, old, current))
                if was_replaced and old is not None and old.physical_id != current.physical_id:
                    # A replacement that came back with the old physical id is that very
                    # resource still: the cleanup must not delete it from under the new one.
                    replaced.append(old)
            outputs = self._outputs(new)
        except Failed as failure:
            if failure.partly is not None:
                was, meant = failure.partly
                touched.append((failure.logical_id, was, meant))
            await self._roll_back(stack, creating, failure, touched, before)
            return
        stack.processed = new.template
        stack.parameters = new.parameters
        stack.outputs = outputs
        stack.imports = sorted(new.context.imported)
        stack.description = new.template.get("Description")
        if not creating:
            self.set_status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        gone = [r for k, r in before.items() if k not in new.resources]
        await self._delete_all(stack, [*replaced, *gone], keep_records=replaced)
        self.set_status(stack, f"{verb}_COMPLETE")

    async def _apply(
        self,
        stack: Stack,
        logical_id: str,
        entry: Mapping[str, Any],
        old: Resource | None,
        ctx: Context,
    ) -> tuple[Resource, bool] | None:
        kind = str(entry["Type"])
        handler = self._handlers.get(kind)
        try:
            props = intrinsics.resolve(entry.get("Properties") or {}, ctx)
        except LamboxError as exc:
            self.event(
                stack,
                logical_id,
                kind,
                "CREATE_FAILED" if old is None else "UPDATE_FAILED",
                reason=exc.message,
            )
            raise Failed(logical_id, exc.message) from exc
        if old is not None and old.type == kind and old.properties == props:
            return None
        replacing = old is not None and (
            old.type != kind
            or (
                handler is not None
                and any(old.properties.get(k) != props.get(k) for k in handler.replaces)
            )
        )
        verb = "CREATE" if old is None or replacing else "UPDATE"
        physical = old.physical_id if old is not None and not replacing else ""
        self.event(stack, logical_id, kind, f"{verb}_IN_PROGRESS", physical,
                   "Requested update requires the creation of a new physical resource; hence"
                   " creating one." if replacing else None)  # fmt: skip
        if handler is None:
            reason = unsupported(kind)
            self.event(stack, logical_id, kind, f"{verb}_FAILED", physical, reason)
            raise Failed(logical_id, reason)
        try:
            if verb == "CREATE":
                done = await handler.create(logical_id, props, stack.name)
            else:
                assert old is not None
                current = Provisioned(old.physical_id, old.ref, old.attributes)
                done = await handler.update(current, old.properties, props, logical_id, stack.name)
        except Exception as exc:
            if isinstance(exc, LamboxError):
                reason = _reason(exc)
            else:
                log.exception("provisioning %s failed", logical_id)
                reason = str(exc)
            self.event(stack, logical_id, kind, f"{verb}_FAILED", physical, reason)
            partly = None
            if verb == "UPDATE" and old is not None:
                partly = (old, replace(old, properties=dict(props)))
            raise Failed(logical_id, reason, partly=partly) from exc
        resource = Resource(
            stack_id=stack.stack_id,
            logical_id=logical_id,
            type=kind,
            status=f"{verb}_COMPLETE",
            timestamp=now(),
            physical_id=done.physical_id,
            ref=done.ref,
            properties=dict(props),
            attributes=dict(done.attributes),
            policy=str(entry.get("DeletionPolicy", "Delete")),
        )
        self._store.put_resource(resource)
        self.event(stack, logical_id, kind, f"{verb}_COMPLETE", done.physical_id)
        return resource, replacing

    def _outputs(self, new: Plan) -> list[dict[str, str]]:
        outputs = []
        for key, spec in (new.template.get("Outputs") or {}).items():
            condition = spec.get("Condition")
            if condition is not None and not new.context.condition(str(condition)):
                continue
            try:
                value = intrinsics.resolve(spec.get("Value"), new.context)
            except LamboxError as exc:
                raise Failed(key, exc.message, resource=False) from exc
            out = {"OutputKey": key, "OutputValue": intrinsics._text(value)}
            if spec.get("Description"):
                out["Description"] = str(spec["Description"])
            export = spec.get("Export")
            if isinstance(export, dict) and "Name" in export:
                export_name = intrinsics._text(intrinsics.resolve(export["Name"], new.context))
                if export_name in new.context.exports:
                    raise Failed(
                        key,
                        f"Export with name {export_name} is already exported by another stack",
                        resource=False,
                    )
                out["ExportName"] = export_name
            outputs.append(out)
        return outputs

    async def _roll_back(
        self,
        stack: Stack,
        creating: bool,
        failure: Failed,
        touched: list[tuple[str, Resource | None, Resource]],
        before: Mapping[str, Resource],
    ) -> None:
        verb = "create" if creating else "update"
        reason = (
            f"The following resource(s) failed to {verb}: [{failure.logical_id}]. "
            if failure.resource
            else f"{failure.reason}. "
        )
        if creating and stack.disable_rollback:
            self.set_status(stack, "CREATE_FAILED", reason)
            return
        status = "ROLLBACK" if creating else "UPDATE_ROLLBACK"
        self.set_status(stack, f"{status}_IN_PROGRESS", reason + "Rollback requested by user.")
        for logical_id, old, new in reversed(touched):
            handler = self._handlers[new.type]
            if old is not None and old.physical_id == new.physical_id:
                # Updated in place: put back what was.
                self.event(stack, logical_id, new.type, "UPDATE_IN_PROGRESS", new.physical_id)
                try:
                    current = Provisioned(new.physical_id, new.ref, new.attributes)
                    await handler.update(
                        current, new.properties, old.properties, logical_id, stack.name
                    )
                except Exception as exc:
                    self.event(
                        stack, logical_id, new.type, "UPDATE_FAILED", new.physical_id, _reason(exc)
                    )
                    continue
                self._store.put_resource(old)
                self.event(stack, logical_id, new.type, "UPDATE_COMPLETE", new.physical_id)
            else:
                await self._delete_one(stack, new, keep_record=old is not None)
                if old is not None:
                    self._store.put_resource(old)
        self.set_status(stack, f"{status}_COMPLETE")

    # -- delete ------------------------------------------------------------------------

    async def delete_stack(self, stack: Stack) -> None:
        self.set_status(stack, "DELETE_IN_PROGRESS", "User Initiated")
        resources = list(self._store.resources(stack.stack_id).values())
        failed = await self._delete_all(stack, resources, keep_records=[])
        if failed:
            self.set_status(
                stack,
                "DELETE_FAILED",
                f"The following resource(s) failed to delete: [{', '.join(failed)}]. ",
            )
            return
        stack.deleted = now()
        self.set_status(stack, "DELETE_COMPLETE")

    async def _delete_all(
        self, stack: Stack, resources: list[Resource], keep_records: list[Resource]
    ) -> list[str]:
        """Delete in reverse creation order; the logical ids that failed."""
        failed = []
        for resource in reversed(resources):
            if not await self._delete_one(
                stack, resource, keep_record=any(resource is k for k in keep_records)
            ):
                failed.append(resource.logical_id)
        return failed

    async def _delete_one(self, stack: Stack, resource: Resource, keep_record: bool) -> bool:
        kind = resource.type
        self.event(stack, resource.logical_id, kind, "DELETE_IN_PROGRESS", resource.physical_id)
        handler = self._handlers.get(kind)
        policy = resource.policy
        if handler is not None and policy != RETAIN and resource.physical_id:
            try:
                current = Provisioned(resource.physical_id, resource.ref, resource.attributes)
                await handler.delete(current, resource.properties)
            except LamboxError as exc:
                if not _gone(exc):
                    self.event(
                        stack,
                        resource.logical_id,
                        kind,
                        "DELETE_FAILED",
                        resource.physical_id,
                        _reason(exc),
                    )
                    return False
        status = "DELETE_SKIPPED" if policy == RETAIN else "DELETE_COMPLETE"
        self.event(stack, resource.logical_id, kind, status, resource.physical_id)
        if not keep_record:
            self._store.drop_resource(stack.stack_id, resource.logical_id)
        return True


def _gone(exc: LamboxError) -> bool:
    """Deleting what is already gone succeeds, as CloudFormation treats it."""
    code = exc.aws_type
    return code in ("ResourceNotFoundException", "NoSuchBucket")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, LamboxError):
        return f"{exc.message} (Status Code: {exc.status}; Error Code: {exc.aws_type})"
    return str(exc)
