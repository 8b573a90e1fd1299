"""Greets whoever the event names; the wording comes from the Helpers layer (/opt/python)."""

import os

import greetings


def handler(event, context):
    name = (event or {}).get("name", "world")
    return {
        "message": greetings.greet(os.environ["GREETING"], name),
        "stage": os.environ["STAGE"],
        "uploads": os.environ["UPLOADS"],
        "helpers": greetings.__file__,
    }
