"""The overview's example: every image uploaded under images/ gets a thumbnail under thumbnails/.

Pillow comes inside the deployment package, as Lambda users package dependencies (make serve
puts its manylinux wheel's files beside this one); boto3 comes with the runtime and reaches
lambox's S3 through AWS_ENDPOINT_URL, with no configuration here.
"""

import io
import urllib.parse

import boto3
from PIL import Image

SIZE = (128, 128)
s3 = boto3.client("s3")


def handler(event, context):
    made = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with Image.open(io.BytesIO(original)) as image:
            image.thumbnail(SIZE)
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=85)
        name = key.split("/", 1)[-1].rsplit(".", 1)[0]
        target = f"thumbnails/{name}.jpg"
        s3.put_object(Bucket=bucket, Key=target, Body=out.getvalue(), ContentType="image/jpeg")
        print(f"made {target} ({image.width}x{image.height}) from {key}")
        made.append(target)
    return {"thumbnails": made}
