"""Gets the orders EventBridge's rule ``big-orders`` matches (source ``shop``, detail-type
``OrderPlaced``, a total of 100 or more, not from the test country), in EventBridge's
envelope, and logs them."""


def handler(event, context):
    order = event["detail"]
    print(f"big order {order.get('id')}: {order['total']} from {order.get('country')}")
    return {"order": order.get("id"), "event": event["id"]}
