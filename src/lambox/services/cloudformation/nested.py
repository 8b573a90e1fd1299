"""AWS::CloudFormation::Stack: a nested stack (what SAM's ``AWS::Serverless::Application``
with a template ``Location`` becomes once packaged).

The child is a stack of its own (``<parent>-<LogicalId>-<RANDOM>``), deployed from its
``TemplateURL`` (an object in lambox's S3) with the given ``Parameters`` through the same
service, and awaited: the parent's resource is complete when the child is, and fails with
the child's reason. Its outputs are the attributes ``Outputs.<Name>``; Ref is its stack id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from lambox.errors import ServiceFault
from lambox.services.cloudformation.resources import Provisioned, physical_name

POLL_SECONDS = 0.05
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE")


class Stacks(Protocol):
    """The CloudFormation service's own operations, as the handler calls them."""

    async def create_stack(self, params: dict[str, Any]) -> dict[str, Any]: ...
    async def update_stack(self, params: dict[str, Any]) -> dict[str, Any]: ...
    async def delete_stack(self, params: dict[str, Any]) -> dict[str, Any]: ...
    async def describe_stacks(self, params: dict[str, Any]) -> dict[str, Any]: ...


def _parameters(props: Mapping[str, Any]) -> list[dict[str, str]]:
    given = props.get("Parameters") or {}
    return [{"ParameterKey": str(k), "ParameterValue": str(v)} for k, v in given.items()]


class NestedStackHandler:
    """AWS::CloudFormation::Stack: TemplateURL and Parameters update the child in place."""

    replaces: frozenset[str] = frozenset()

    def __init__(self, stacks: Stacks) -> None:
        self._stacks = stacks

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        name = physical_name(stack, logical_id, 128)
        created = await self._stacks.create_stack(
            {
                "StackName": name,
                "TemplateURL": str(props["TemplateURL"]),
                "Parameters": _parameters(props),
                "Capabilities": CAPABILITIES,
            }
        )
        stack_id = str(created["StackId"])
        return await self._settled(stack_id)

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        try:
            await self._stacks.update_stack(
                {
                    "StackName": current.physical_id,
                    "TemplateURL": str(props["TemplateURL"]),
                    "Parameters": _parameters(props),
                    "Capabilities": CAPABILITIES,
                }
            )
        except ServiceFault as fault:
            if "No updates are to be performed" not in fault.message:
                raise
        return await self._settled(current.physical_id)

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        await self._stacks.delete_stack({"StackName": current.physical_id})
        await self._settled(current.physical_id)

    async def _settled(self, stack_id: str) -> Provisioned:
        """The child once its deployment ended; its failure as the resource's."""
        while True:
            (view,) = (await self._stacks.describe_stacks({"StackName": stack_id}))["Stacks"]
            status = str(view["StackStatus"])
            if not status.endswith("_IN_PROGRESS"):
                break
            await asyncio.sleep(POLL_SECONDS)
        if status not in _DONE:
            reason = view.get("StackStatusReason") or status
            raise ServiceFault(
                "ValidationError", f"Embedded stack {stack_id} ended {status}: {reason}", 400
            )
        outputs = {f"Outputs.{o['OutputKey']}": o["OutputValue"] for o in view["Outputs"]}
        return Provisioned(stack_id, stack_id, outputs)
