"""A durable order workflow written with AWS's Durable Execution SDK, unmodified.

Each step is checkpointed; the approval wait holds no sandbox: the execution sleeps in
lambox's store until SendDurableExecutionCallbackSuccess (or Failure) names its callback.
"""

import json

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, WaitForCallbackConfig


@durable_execution
def handler(event, context: DurableContext):
    order = context.step(lambda _: validate(event), name="validate")
    charge = context.step(lambda _: {"charged": order["total"]}, name="charge")

    def ask_for_approval(callback_id, _ctx):
        # A real workflow mails this id to an approver; here it goes to the log.
        print(json.dumps({"approve_with": callback_id, "order": order["id"]}))

    answer = context.wait_for_callback(
        ask_for_approval,
        name="approval",
        config=WaitForCallbackConfig(timeout=Duration.from_hours(24)),
    )
    approved = json.loads(answer) if answer else {}
    if not approved.get("approved"):
        return {"order": order["id"], "status": "rejected", **charge}
    shipment = context.step(lambda _: {"tracking": f"TRK-{order['id']}"}, name="ship")
    return {"order": order["id"], "status": "shipped", **charge, **shipment}


def validate(event):
    if not event.get("id") or not event.get("items"):
        raise ValueError("an order needs an id and items")
    total = sum(item["price"] * item.get("quantity", 1) for item in event["items"])
    return {"id": event["id"], "total": total}
