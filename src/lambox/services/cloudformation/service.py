"""CloudFormation's operations: one method per operation of botocore's model, taking the
parsed input members and returning the output members.

Deployments (CreateStack, UpdateStack, ExecuteChangeSet, DeleteStack) run as tasks; the
call that starts one answers once it has settled or after ``SETTLE_SECONDS``, whichever
comes first, so the clients' waiters (the AWS CLI polls every 30 s) usually find the stack
done at their first look. A change set is computed when it is created.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from lambox.errors import LamboxError, ServiceFault
from lambox.services.cloudformation import intrinsics
from lambox.services.cloudformation import template as templates
from lambox.services.cloudformation.engine import Engine, Plan, now, plan
from lambox.services.cloudformation.resources import Handler, ReadObject
from lambox.services.cloudformation.store import ChangeSet, Resource, Stack, StackStore
from lambox.services.cloudformation.template import validation

log = logging.getLogger(__name__)

SETTLE_SECONDS = 30.0
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to"
    " create a change set."
)


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _params(given: Any) -> list[dict[str, Any]]:
    return [dict(p) for p in given or []]


class CloudFormationService:
    def __init__(
        self,
        store: StackStore,
        handlers: Mapping[str, Handler],
        read_object: ReadObject,
        region: str,
        account: str,
    ) -> None:
        self._store = store
        self._engine = Engine(store, handlers)
        self._handlers = handlers
        self._read_object = read_object
        self._region = region
        self._account = account
        self._tasks: set[asyncio.Task[None]] = set()
        self.operations: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "CreateStack": self.create_stack,
            "UpdateStack": self.update_stack,
            "DeleteStack": self.delete_stack,
            "DescribeStacks": self.describe_stacks,
            "DescribeStackEvents": self.describe_stack_events,
            "DescribeStackResources": self.describe_stack_resources,
            "DescribeStackResource": self.describe_stack_resource,
            "ListStackResources": self.list_stack_resources,
            "ListStacks": self.list_stacks,
            "GetTemplate": self.get_template,
            "GetTemplateSummary": self.get_template_summary,
            "ValidateTemplate": self.validate_template,
            "CreateChangeSet": self.create_change_set,
            "DescribeChangeSet": self.describe_change_set,
            "ExecuteChangeSet": self.execute_change_set,
            "DeleteChangeSet": self.delete_change_set,
            "ListChangeSets": self.list_change_sets,
            "ListExports": self.list_exports,
            "ListImports": self.list_imports,
        }

    def restore(self) -> None:
        """A deployment a crash interrupted cannot be resumed: say so on the stack."""
        for stack in self._store.interrupted():
            failed = stack.status.replace("_IN_PROGRESS", "_FAILED")
            self._engine.set_status(stack, failed, "lambox restarted during the operation")

    # -- helpers -----------------------------------------------------------------------

    def _pseudo(self, stack: Stack) -> dict[str, str]:
        return {
            "AWS::Region": self._region,
            "AWS::AccountId": self._account,
            "AWS::StackName": stack.name,
            "AWS::StackId": stack.stack_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": "",
        }

    def _stack(self, name: str) -> Stack:
        stack = self._store.live_stack(name)
        if stack is None:
            raise validation(f"Stack with id {name} does not exist")
        return stack

    async def _body(self, params: Mapping[str, Any]) -> str:
        if params.get("TemplateBody"):
            return str(params["TemplateBody"])
        url = params.get("TemplateURL")
        if url:
            parsed = urlparse(str(url))
            host = parsed.hostname or ""
            path = parsed.path.lstrip("/")
            if ".s3." in host or host.startswith("s3."):
                bucket = (
                    host.split(".s3.", 1)[0]
                    if ".s3." in host and not host.startswith("s3.")
                    else ""
                )
            else:
                bucket = ""
            if not bucket:
                bucket, _, path = path.partition("/")
            try:
                return (await self._read_object(bucket, path)).decode()
            except LamboxError as exc:
                raise validation(f"TemplateURL must be a lambox S3 object: {exc.message}") from exc
        raise validation("Either Template URL or Template Body must be specified.")

    def _plan(
        self, stack: Stack, body: str, given: list[dict[str, Any]], previous: Stack | None
    ) -> Plan:
        parsed = templates.parse(body)
        values: dict[str, str] = {}
        old = {
            p["ParameterKey"]: p["ParameterValue"]
            for p in (previous.parameters if previous else [])
        }
        for p in given:
            key = str(p["ParameterKey"])
            if p.get("UsePreviousValue"):
                if key not in old:
                    raise validation(
                        f"Invalid input for parameter key {key}. Cannot specify"
                        " usePreviousValue as true for a parameter key not in the previous"
                        " template"
                    )
                values[key] = old[key]
            elif "ParameterValue" in p:
                values[key] = str(p["ParameterValue"])
        declared = parsed.get("Parameters") or {}
        defaults = {
            k: str(v["Default"])
            for k, v in declared.items()
            if isinstance(v, dict) and "Default" in v
        }
        expanded = templates.expand(parsed, {**defaults, **values}, self._region, self._account)
        return plan(expanded, values, self._pseudo(stack), self._exports(besides=stack))

    def _exports(self, besides: Stack | None = None) -> dict[str, str]:
        """Every live stack's exported outputs but ``besides``'s: name -> value."""
        found: dict[str, str] = {}
        for other in self._store.stacks():
            if other.deleted is not None or (besides and other.stack_id == besides.stack_id):
                continue
            for output in other.outputs:
                if "ExportName" in output:
                    found[output["ExportName"]] = output["OutputValue"]
        return found

    def _importers(self, export: str) -> list[Stack]:
        return [s for s in self._store.stacks() if s.deleted is None and export in s.imports]

    @staticmethod
    def _capabilities_given(
        body: str, new: Plan, params: Mapping[str, Any], change_set: bool
    ) -> None:
        given = [str(c) for c in params.get("Capabilities") or []]
        templates.check_capabilities(templates.parse(body), new.template, given, change_set)

    def _start(self, work: Awaitable[None]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("a stack operation failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _settle(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), SETTLE_SECONDS)

    def _busy(self, stack: Stack) -> None:
        if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
            raise validation(
                f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated."
            )

    def _new_stack(self, name: str, params: Mapping[str, Any], status: str) -> Stack:
        stack_id = (
            f"arn:aws:cloudformation:{self._region}:{self._account}:stack/{name}/{uuid.uuid4()}"
        )
        return Stack(
            stack_id=stack_id,
            name=name,
            status=status,
            created=now(),
            capabilities=list(params.get("Capabilities") or []),
            tags=[dict(t) for t in params.get("Tags") or []],
            disable_rollback=bool(params.get("DisableRollback"))
            or params.get("OnFailure") == "DO_NOTHING",
        )

    # -- stacks ------------------------------------------------------------------------

    async def create_stack(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["StackName"])
        existing = self._store.live_stack(name)
        if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
            raise ServiceFault("AlreadyExistsException", f"Stack [{name}] already exists", 400)
        body = await self._body(params)
        stack = existing or self._new_stack(name, params, "CREATE_IN_PROGRESS")
        new = self._plan(stack, body, _params(params.get("Parameters")), None)
        self._capabilities_given(body, new, params, change_set=False)
        stack.template = body
        self._store.put_stack(stack)
        await self._settle(self._start(self._engine.deploy(stack, new, creating=True)))
        return {"StackId": stack.stack_id}

    async def update_stack(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self._stack(str(params["StackName"]))
        self._busy(stack)
        body = stack.template if params.get("UsePreviousTemplate") else await self._body(params)
        new = self._plan(stack, body, _params(params.get("Parameters")), stack)
        self._capabilities_given(body, new, params, change_set=False)
        if not self._changes(stack, new) and new.parameters == stack.parameters:
            raise validation("No updates are to be performed.")
        previous_body = stack.template
        stack.template = body
        self._store.put_stack(stack)
        await self._settle(self._start(self._update(stack, new, previous_body)))
        return {"StackId": stack.stack_id}

    async def _update(self, stack: Stack, new: Plan, previous_body: str) -> None:
        await self._engine.deploy(stack, new, creating=False)
        if stack.status == "UPDATE_ROLLBACK_COMPLETE":
            stack.template = previous_body
            self._store.put_stack(stack)

    async def delete_stack(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self._store.live_stack(str(params["StackName"]))
        if stack is None or stack.deleted is not None:
            return {}
        self._busy(stack)
        for output in stack.outputs:
            users = self._importers(output.get("ExportName", ""))
            if "ExportName" in output and users:
                raise validation(
                    f"Export {output['ExportName']} cannot be deleted as it is in use by"
                    f" {users[0].name}"
                )
        await self._settle(self._start(self._engine.delete_stack(stack)))
        return {}

    def _view(self, stack: Stack) -> dict[str, Any]:
        view: dict[str, Any] = {
            "StackId": stack.stack_id,
            "StackName": stack.name,
            "CreationTime": _time(stack.created),
            "StackStatus": stack.status,
            "DisableRollback": stack.disable_rollback,
            "NotificationARNs": [],
            "Capabilities": stack.capabilities,
            "Tags": stack.tags,
            "Parameters": stack.parameters,
            "Outputs": stack.outputs,
            "EnableTerminationProtection": False,
            "RollbackConfiguration": {},
            "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
        }
        if stack.description:
            view["Description"] = stack.description
        if stack.reason:
            view["StackStatusReason"] = stack.reason
        if stack.updated:
            view["LastUpdatedTime"] = _time(stack.updated)
        if stack.deleted:
            view["DeletionTime"] = _time(stack.deleted)
        return {k: v for k, v in view.items() if v != [] or k in ("Outputs",)}

    async def describe_stacks(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("StackName")
        if name:
            return {"Stacks": [self._view(self._stack(str(name)))]}
        return {"Stacks": [self._view(s) for s in self._store.stacks() if s.deleted is None]}

    async def list_stacks(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = set(params.get("StackStatusFilter") or [])
        summaries = []
        for stack in self._store.stacks():
            if wanted and stack.status not in wanted:
                continue
            summary: dict[str, Any] = {
                "StackId": stack.stack_id,
                "StackName": stack.name,
                "CreationTime": _time(stack.created),
                "StackStatus": stack.status,
                "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
            }
            if stack.reason:
                summary["StackStatusReason"] = stack.reason
            if stack.description:
                summary["TemplateDescription"] = stack.description
            if stack.updated:
                summary["LastUpdatedTime"] = _time(stack.updated)
            if stack.deleted:
                summary["DeletionTime"] = _time(stack.deleted)
            summaries.append(summary)
        return {"StackSummaries": summaries}

    async def describe_stack_events(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self._stack(str(params["StackName"]))
        events = []
        for e in self._store.events(stack.stack_id):
            event: dict[str, Any] = {
                "StackId": e.stack_id,
                "EventId": e.event_id,
                "StackName": e.stack_name,
                "LogicalResourceId": e.logical_id,
                "PhysicalResourceId": e.physical_id,
                "ResourceType": e.type,
                "Timestamp": _time(e.timestamp),
                "ResourceStatus": e.status,
            }
            if e.reason:
                event["ResourceStatusReason"] = e.reason
            events.append(event)
        return {"StackEvents": events}

    def _resource_view(self, stack: Stack, r: Resource) -> dict[str, Any]:
        view: dict[str, Any] = {
            "StackName": stack.name,
            "StackId": stack.stack_id,
            "LogicalResourceId": r.logical_id,
            "PhysicalResourceId": r.physical_id,
            "ResourceType": r.type,
            "Timestamp": _time(r.timestamp),
            "ResourceStatus": r.status,
            "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
        }
        if r.reason:
            view["ResourceStatusReason"] = r.reason
        return view

    async def describe_stack_resources(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self._stack(str(params.get("StackName") or ""))
        wanted = params.get("LogicalResourceId")
        resources = [
            self._resource_view(stack, r)
            for r in self._store.resources(stack.stack_id).values()
            if not wanted or r.logical_id == wanted
        ]
        return {"StackResources": resources}

    async def describe_stack_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self._stack(str(params["StackName"]))
        logical_id = str(params["LogicalResourceId"])
        resource = self._store.resources(stack.stack_id).get(logical_id)
        if resource is None:
            raise validation(f"Resource {logical_id} does not exist for stack {stack.name}")
        view = self._resource_view(stack, resource)
        view["LastUpdatedTimestamp"] = view.pop("Timestamp")
        return {"StackResourceDetail": view}

    async def list_stack_resources(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self._stack(str(params["StackName"]))
        summaries = []
        for r in self._store.resources(stack.stack_id).values():
            view = self._resource_view(stack, r)
            view["LastUpdatedTimestamp"] = view.pop("Timestamp")
            for key in ("StackName", "StackId"):
                view.pop(key)
            summaries.append(view)
        return {"StackResourceSummaries": summaries}

    # -- templates ---------------------------------------------------------------------

    async def get_template(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("ChangeSetName"):
            change_set = self._change_set(params)
            return {"TemplateBody": change_set.template, "StagesAvailable": ["Original"]}
        stack = self._stack(str(params["StackName"]))
        if params.get("TemplateStage") == "Processed":
            body = json.dumps(stack.processed)
        else:
            body = stack.template
        return {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]}

    async def validate_template(self, params: dict[str, Any]) -> dict[str, Any]:
        parsed = templates.parse(await self._body(params))
        out: dict[str, Any] = {"Parameters": self._declared(parsed, summary=False)}
        if parsed.get("Description"):
            out["Description"] = str(parsed["Description"])
        capabilities = self._capabilities(parsed)
        if capabilities:
            out["Capabilities"] = capabilities
            out["CapabilitiesReason"] = "The following resource(s) require capabilities: "
        transforms = templates.transforms(parsed)
        if transforms:
            out["DeclaredTransforms"] = transforms
        return out

    async def get_template_summary(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("StackName"):
            body = self._stack(str(params["StackName"])).template
        else:
            body = await self._body(params)
        parsed = templates.parse(body)
        out: dict[str, Any] = {
            "Parameters": self._declared(parsed, summary=True),
            "ResourceTypes": sorted({str(r.get("Type")) for r in parsed["Resources"].values()}),
            "Version": str(parsed.get("AWSTemplateFormatVersion", "2010-09-09")),
        }
        if parsed.get("Description"):
            out["Description"] = str(parsed["Description"])
        transforms = templates.transforms(parsed)
        if transforms:
            out["DeclaredTransforms"] = transforms
        return out

    @staticmethod
    def _declared(parsed: Mapping[str, Any], summary: bool) -> list[dict[str, Any]]:
        out = []
        for key, spec in (parsed.get("Parameters") or {}).items():
            spec = spec if isinstance(spec, dict) else {}
            item: dict[str, Any] = {"ParameterKey": key, "NoEcho": bool(spec.get("NoEcho"))}
            if "Default" in spec:
                item["DefaultValue"] = str(spec["Default"])
            if spec.get("Description"):
                item["Description"] = str(spec["Description"])
            if summary:
                item["ParameterType"] = str(spec.get("Type", "String"))
                item["ParameterConstraints"] = (
                    {"AllowedValues": [str(v) for v in spec["AllowedValues"]]}
                    if "AllowedValues" in spec
                    else {}
                )
            out.append(item)
        return out

    @staticmethod
    def _capabilities(parsed: Mapping[str, Any]) -> list[str]:
        kinds = {str(r.get("Type")) for r in parsed["Resources"].values() if isinstance(r, dict)}
        found = []
        if any(k.startswith("AWS::IAM::") for k in kinds) or templates.transforms(parsed):
            found.append("CAPABILITY_IAM")
        if templates.transforms(parsed):
            found.append("CAPABILITY_AUTO_EXPAND")
        return found

    # -- change sets -------------------------------------------------------------------

    def _changes(self, stack: Stack, new: Plan) -> list[dict[str, Any]]:
        """What executing ``new`` would do, as DescribeChangeSet lists it."""
        old_resources = self._store.resources(stack.stack_id)
        ctx = new.context
        known = {k: (r.ref, r.attributes) for k, r in old_resources.items()}
        changes = []
        for logical_id in new.order:
            entry = new.resources[logical_id]
            kind = str(entry["Type"])
            old = old_resources.get(logical_id)
            change: dict[str, Any] = {
                "LogicalResourceId": logical_id,
                "ResourceType": kind,
                "Scope": [],
                "Details": [],
            }
            if old is None:
                change["Action"] = "Add"
            else:
                # Resolved against what is deployed now: a value that depends on a resource
                # this change set replaces counts as changed.
                ctx.resources = dict(known)
                try:
                    props = intrinsics.resolve(entry.get("Properties") or {}, ctx)
                except LamboxError:
                    props = None
                if old.type == kind and props == old.properties:
                    continue
                handler = self._handlers.get(kind)
                old_props = old.properties
                new_props = props or {}
                differs = sorted(
                    k
                    for k in {*old_props, *new_props}
                    if props is None or old_props.get(k) != new_props.get(k)
                )
                replaces = old.type != kind or (
                    handler is not None and any(k in handler.replaces for k in differs)
                )
                change.update(
                    Action="Modify",
                    PhysicalResourceId=old.physical_id,
                    Replacement="True" if replaces else "False",
                    Scope=["Properties"] if differs else [],
                )
            changes.append({"Type": "Resource", "ResourceChange": change})
        ctx.resources = {}
        for logical_id, old in old_resources.items():
            if logical_id not in new.resources:
                changes.append(
                    {
                        "Type": "Resource",
                        "ResourceChange": {
                            "Action": "Remove",
                            "LogicalResourceId": logical_id,
                            "PhysicalResourceId": old.physical_id,
                            "ResourceType": old.type,
                            "Scope": [],
                            "Details": [],
                        },
                    }
                )
        return changes

    async def create_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        stack_name = str(params["StackName"])
        kind = str(params.get("ChangeSetType") or "UPDATE")
        stack = self._store.live_stack(stack_name)
        if kind == "CREATE":
            if stack is not None and stack.status != "REVIEW_IN_PROGRESS":
                raise ServiceFault(
                    "AlreadyExistsException", f"Stack [{stack_name}] already exists", 400
                )
            if stack is None:
                stack = self._new_stack(stack_name, params, "REVIEW_IN_PROGRESS")
                self._store.put_stack(stack)
                self._engine.event(
                    stack, stack.name, "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS",
                    stack.stack_id, "User Initiated",
                )  # fmt: skip
        elif stack is None or stack.status == "REVIEW_IN_PROGRESS":
            raise validation(f"Stack [{stack_name}] does not exist")
        body = await self._body(params)
        given = _params(params.get("Parameters"))
        change_set = ChangeSet(
            change_set_id=f"arn:aws:cloudformation:{self._region}:{self._account}:changeSet/"
            f"{params['ChangeSetName']}/{uuid.uuid4()}",
            name=str(params["ChangeSetName"]),
            stack_id=stack.stack_id,
            stack_name=stack.name,
            kind=kind,
            status="CREATE_COMPLETE",
            execution_status="AVAILABLE",
            created=now(),
            template=body,
            parameters=given,
            capabilities=list(params.get("Capabilities") or []),
            tags=[dict(t) for t in params.get("Tags") or []],
            description=params.get("Description"),
        )
        if self._store.change_set(change_set.name, stack.stack_id) is not None:
            raise ServiceFault(
                "AlreadyExistsException", f"ChangeSet {change_set.name} already exists", 400
            )
        new: Plan | None = None
        try:
            new = self._plan(stack, body, given, None if kind == "CREATE" else stack)
        except ServiceFault as exc:  # a template that cannot deploy: a FAILED change set
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.reason = exc.message
        if new is not None:
            # Refused outright, as CloudFormation refuses it, rather than a FAILED change set.
            self._capabilities_given(body, new, params, change_set=True)
            change_set.changes = self._changes(stack, new)
            if not change_set.changes:
                change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
                change_set.reason = NO_CHANGES
        self._store.put_change_set(change_set)
        return {"Id": change_set.change_set_id, "StackId": stack.stack_id}

    def _change_set(self, params: Mapping[str, Any]) -> ChangeSet:
        name = str(params["ChangeSetName"])
        stack_id = None
        if params.get("StackName"):
            stack = self._store.live_stack(str(params["StackName"]))
            stack_id = stack.stack_id if stack else None
        found = self._store.change_set(name, stack_id)
        if found is None:
            raise ServiceFault("ChangeSetNotFound", f"ChangeSet [{name}] does not exist", 404)
        return found

    async def describe_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        c = self._change_set(params)
        out: dict[str, Any] = {
            "ChangeSetName": c.name,
            "ChangeSetId": c.change_set_id,
            "StackId": c.stack_id,
            "StackName": c.stack_name,
            "Parameters": [
                {
                    "ParameterKey": p["ParameterKey"],
                    "ParameterValue": str(p.get("ParameterValue", "")),
                }
                for p in c.parameters
            ],
            "CreationTime": _time(c.created),
            "ExecutionStatus": c.execution_status,
            "Status": c.status,
            "NotificationARNs": [],
            "RollbackConfiguration": {},
            "Capabilities": c.capabilities,
            "Tags": c.tags,
            "Changes": c.changes,
            "IncludeNestedStacks": False,
        }
        if c.description:
            out["Description"] = c.description
        if c.reason:
            out["StatusReason"] = c.reason
        return out

    async def execute_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        c = self._change_set(params)
        if c.execution_status != "AVAILABLE":
            raise ServiceFault(
                "InvalidChangeSetStatus",
                f"ChangeSet [{c.change_set_id}] cannot be executed in its current status of"
                f" [{c.status}]",
                400,
            )
        stack = self._stack(c.stack_id)
        self._busy(stack)
        previous = None if c.kind == "CREATE" else stack
        new = self._plan(stack, c.template, c.parameters, previous)
        c.execution_status = "EXECUTE_IN_PROGRESS"
        self._store.put_change_set(c)
        previous_body = stack.template
        stack.template = c.template
        if params.get("DisableRollback") is not None:
            stack.disable_rollback = bool(params["DisableRollback"])
        stack.capabilities = c.capabilities
        self._store.put_stack(stack)

        async def run() -> None:
            if c.kind == "CREATE":
                await self._engine.deploy(stack, new, creating=True)
            else:
                await self._update(stack, new, previous_body)
            c.execution_status = (
                "EXECUTE_COMPLETE"
                if stack.status.endswith("E_COMPLETE") and "ROLLBACK" not in stack.status
                else "EXECUTE_FAILED"
            )
            self._store.put_change_set(c)
            for other in self._store.change_sets(stack.stack_id):
                if other.change_set_id != c.change_set_id:
                    other.execution_status = "OBSOLETE"
                    self._store.put_change_set(other)

        await self._settle(self._start(run()))
        return {}

    async def delete_change_set(self, params: dict[str, Any]) -> dict[str, Any]:
        c = self._change_set(params)
        self._store.drop_change_set(c.change_set_id)
        return {}

    async def list_change_sets(self, params: dict[str, Any]) -> dict[str, Any]:
        stack = self._stack(str(params["StackName"]))
        return {
            "Summaries": [
                {
                    "StackId": c.stack_id,
                    "StackName": c.stack_name,
                    "ChangeSetId": c.change_set_id,
                    "ChangeSetName": c.name,
                    "ExecutionStatus": c.execution_status,
                    "Status": c.status,
                    "CreationTime": _time(c.created),
                }
                for c in self._store.change_sets(stack.stack_id)
            ]
        }

    # -- exports -----------------------------------------------------------------------

    async def list_exports(self, params: dict[str, Any]) -> dict[str, Any]:
        exports = []
        for stack in self._store.stacks():
            if stack.deleted is None:
                exports += [
                    {
                        "ExportingStackId": stack.stack_id,
                        "Name": o["ExportName"],
                        "Value": o["OutputValue"],
                    }
                    for o in stack.outputs
                    if "ExportName" in o
                ]
        return {"Exports": exports}

    async def list_imports(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["ExportName"])
        if name not in self._exports():
            raise validation(f"Export '{name}' does not exist.")
        return {"Imports": [s.name for s in self._importers(name)]}
