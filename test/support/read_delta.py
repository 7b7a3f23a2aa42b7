"""Reads the lake's Delta table with delta-rs (the deltalake package), an engine we did not write,
for test/delta-table.test.ts; prints JSON on stdout.

argv: the table URI (a local path or s3://bucket/prefix), an optional version (else the newest),
then optional application ids whose txn versions to report. For s3:// the endpoint and
credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
Output: the version read, the protocol, the partition columns, the schema's field names and
types, the number of files, the txn version of each asked application id (null when none), and
every row as [kafka_partition, kafka_offset, event_id, dt, hour, total_usd_cents, created_at]
with integers as strings and created_at as epoch ms.
"""
import json
import os
import sys

from deltalake import DeltaTable

uri = sys.argv[1]
version = None if len(sys.argv) < 3 or sys.argv[2] == "latest" else int(sys.argv[2])
app_ids = sys.argv[3:]
options = None
if uri.startswith("s3://"):
    options = {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ALLOW_HTTP": "true",
    }
table = DeltaTable(uri, version=version, storage_options=options)
data = table.to_pyarrow_table(columns=["kafka_partition", "kafka_offset", "event_id", "dt", "hour", "total_usd_cents", "created_at"])
rows = [
    [str(r["kafka_partition"]), str(r["kafka_offset"]), r["event_id"], str(r["dt"]), str(r["hour"]), str(r["total_usd_cents"]), round(r["created_at"].timestamp() * 1000)]
    for r in data.to_pylist()
]
protocol = table.protocol()
print(json.dumps({
    "version": table.version(),
    "protocol": [protocol.min_reader_version, protocol.min_writer_version],
    "partitionColumns": table.metadata().partition_columns,
    "fields": [[f.name, str(f.type)] for f in table.schema().fields],
    "files": len(table.file_uris()),
    "txn": {app: table.transaction_version(app) for app in app_ids},
    "rows": rows,
}))
