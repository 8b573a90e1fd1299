"""A small HTTP API behind a function URL (payload format 2.0).

    curl http://<url-id>.lambda-url.us-east-1.localhost:9000/items
    curl http://<url-id>.lambda-url.us-east-1.localhost:9000/items/1
    curl -X POST -H 'content-type: application/json' -d '{"name": "pear"}' \
        http://<url-id>.lambda-url.us-east-1.localhost:9000/items

Items live in the sandbox's memory: they last as long as the warm sandbox does.
"""

import base64
import json

ITEMS = {"1": {"id": "1", "name": "apple"}, "2": {"id": "2", "name": "banana"}}


def answer(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    parts = [p for p in event["rawPath"].split("/") if p]
    if parts == ["items"] and method == "GET":
        return answer(200, sorted(ITEMS.values(), key=lambda item: int(item["id"])))
    if parts == ["items"] and method == "POST":
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        try:
            name = json.loads(raw)["name"]
        except (ValueError, KeyError, TypeError):
            return answer(400, {"message": 'send {"name": ...}'})
        item = {"id": str(len(ITEMS) + 1), "name": str(name)}
        ITEMS[item["id"]] = item
        return answer(201, item)
    if len(parts) == 2 and parts[0] == "items" and method == "GET":
        item = ITEMS.get(parts[1])
        return answer(200, item) if item else answer(404, {"message": "Not Found"})
    if not parts:
        return {"hello": "from lambox", "try": "/items"}
    return answer(404, {"message": "Not Found"})
