"""Prices a cart and reports business metrics the way Lambda functions do on AWS: one JSON
log line in the Embedded Metric Format, which lambox (like CloudWatch) turns into the
metrics ``ItemCount`` and ``CartValue`` in the namespace ``lambox-examples/checkout``.

    aws --endpoint-url http://127.0.0.1:9000 lambda invoke --function-name checkout \\
        --cli-binary-format raw-in-base64-out \\
        --payload '{"items": [{"price": 3.5, "qty": 2}], "region": "eu"}' out.json
    aws --endpoint-url http://127.0.0.1:9000 cloudwatch list-metrics \\
        --namespace lambox-examples/checkout
"""

import json
import time


def handler(event, context):
    items = event.get("items", [])
    value = sum(float(i.get("price", 0)) * int(i.get("qty", 1)) for i in items)
    print(
        json.dumps(
            {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "lambox-examples/checkout",
                            "Dimensions": [["Region"]],
                            "Metrics": [
                                {"Name": "ItemCount", "Unit": "Count"},
                                {"Name": "CartValue", "Unit": "None"},
                            ],
                        }
                    ],
                },
                "Region": event.get("region", "unknown"),
                "ItemCount": len(items),
                "CartValue": value,
            }
        )
    )
    return {"total": value, "items": len(items)}
