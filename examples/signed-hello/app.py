"""A function whose code is signed by lambox's Signer and deployed under a code signing
config with the Enforce policy (signed.json): an update with unsigned code is refused."""


def handler(event, context):
    return {"message": "hello from signed code", "event": event}
