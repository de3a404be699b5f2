#!/usr/bin/env python3
"""Create what infra/local.env expects on a local AWS-compatible server (moto):
the lake bucket, the FIFO queue with its dead-letter queue, and the bookmark table.

Usage: .venv/bin/python infra/scripts/local_setup.py [endpoint]   (default http://127.0.0.1:5000)
Idempotent: existing resources are kept.
"""
import json
import sys

import boto3

endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3, sqs, ddb = boto3.client("s3", **kw), boto3.client("sqs", **kw), boto3.client("dynamodb", **kw)

s3.create_bucket(Bucket="hudi-lake")
dlq = sqs.create_queue(QueueName="hudi-pg-sync-commits-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
queue = sqs.create_queue(
    QueueName="hudi-pg-sync-commits.fifo",
    Attributes={
        "FifoQueue": "true",
        "ContentBasedDeduplication": "false",
        "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
    },
)["QueueUrl"]
if "hudi-pg-sync-bookmarks" not in ddb.list_tables()["TableNames"]:
    ddb.create_table(
        TableName="hudi-pg-sync-bookmarks",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
print(json.dumps({"bucket": "hudi-lake", "queue": queue, "dlq": dlq, "bookmarks": "hudi-pg-sync-bookmarks"}))
