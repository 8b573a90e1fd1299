"""An SQS consumer with partial batch failures.

Orders sent to the ``lambox-orders`` queue arrive here in batches of up to 10. Each good
order's total goes to ``lambox-orders-done``; a malformed one is reported in
``batchItemFailures``, so only it comes back (after the queue's 5-second visibility timeout)
and, after three receives, lands in ``lambox-orders-dlq``. The rest of its batch is deleted.

    aws --endpoint-url http://127.0.0.1:9000 sqs send-message \\
        --queue-url http://127.0.0.1:9000/000000000000/lambox-orders \\
        --message-body '{"id": "A1", "quantity": 2, "price": 9.5}'
    aws --endpoint-url http://127.0.0.1:9000 sqs receive-message \\
        --queue-url http://127.0.0.1:9000/000000000000/lambox-orders-done --wait-time-seconds 10
"""

import json

import boto3

sqs = boto3.client("sqs")
done_url = None


def handler(event, context):
    global done_url
    if done_url is None:
        done_url = sqs.get_queue_url(QueueName="lambox-orders-done")["QueueUrl"]
    failures = []
    totals = []
    for record in event["Records"]:
        try:
            order = json.loads(record["body"])
            total = int(order["quantity"]) * float(order["price"])
        except (ValueError, KeyError, TypeError):
            print(f"order {record['messageId']} is malformed: {record['body'][:100]!r}")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        totals.append({"order": order.get("id"), "total": total})
    for start in range(0, len(totals), 10):
        sqs.send_message_batch(
            QueueUrl=done_url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps(t)}
                for i, t in enumerate(totals[start : start + 10])
            ],
        )
    print(f"{len(totals)} orders done, {len(failures)} malformed")
    return {"batchItemFailures": failures}
