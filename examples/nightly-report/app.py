"""A nightly job that used to be a crontab line: EventBridge's scheduled rule
``cron(0 2 * * ? *)`` invokes it with a "Scheduled Event"; it counts the objects of the
photos bucket and writes the count to ``reports/<date>.json`` with boto3 (which reaches
lambox through the AWS_ENDPOINT_URL every function gets)."""

import json

import boto3

BUCKET = "lambox-photos"


def handler(event, context):
    day = event.get("time", "")[:10] or "manual"
    s3 = boto3.client("s3")
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="images/")
        count = sum(page.get("KeyCount", 0) for page in pages)
    except s3.exceptions.NoSuchBucket:
        print(f"no bucket {BUCKET}: nothing to report")
        return {"images": 0}
    report = {"date": day, "images": count, "rule": event.get("resources", [])}
    s3.put_object(
        Bucket=BUCKET, Key=f"reports/{day}.json", Body=json.dumps(report).encode()
    )
    print(f"report for {day}: {count} images")
    return report
