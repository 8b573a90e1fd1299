"""Consumes the Orders queue (a SAM ``SQS`` event): each order is stored in the Uploads
bucket as ``orders/<message id>.json``, with the layer's greeting."""

import json
import os

import boto3
import greetings

s3 = boto3.client("s3")


def handler(event, context):
    for record in event["Records"]:
        order = json.loads(record["body"])
        order["greeting"] = greetings.greet("Thanks", order.get("customer", "customer"))
        s3.put_object(
            Bucket=os.environ["UPLOADS"],
            Key=f"orders/{record['messageId']}.json",
            Body=json.dumps(order).encode(),
        )
