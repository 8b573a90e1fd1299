"""Greets whoever the event names; the wording comes from the Helpers layer (/opt/python).
Through an API (the HTTP API's or the REST API's proxy event) the greeting is the body of
a proxy answer, the shape both kinds of API expect."""

import json
import os

import greetings


def handler(event, context):
    event = event or {}
    name = event.get("name", "world")
    greeting = {
        "message": greetings.greet(os.environ["GREETING"], name),
        "stage": os.environ["STAGE"],
        "uploads": os.environ["UPLOADS"],
        "helpers": greetings.__file__,
    }
    if "requestContext" not in event:
        return greeting
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(greeting),
    }
