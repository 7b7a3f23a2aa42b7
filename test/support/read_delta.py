"""Reads the lake's Delta table with engines we did not write, for test/delta-table.test.ts:
delta-rs (the deltalake package) and Polars (polars.read_delta); prints JSON on stdout.

argv: the engine (deltalake or polars), the table URI (a local path or s3://bucket/prefix), a
version or "latest", then application ids whose txn versions to report (delta-rs reports them). For s3:// the endpoint and
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

engine, uri = sys.argv[1], sys.argv[2]
version = None if sys.argv[3] == "latest" else int(sys.argv[3])
app_ids = sys.argv[4:]
options = None
if uri.startswith("s3://"):
    options = {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ALLOW_HTTP": "true",
    }
COLUMNS = ["kafka_partition", "kafka_offset", "event_id", "dt", "hour", "total_usd_cents", "created_at"]
table = DeltaTable(uri, version=version, storage_options=options)
if engine == "polars":
    import polars

    data = polars.read_delta(uri, version=version, columns=COLUMNS, storage_options=options).to_arrow()
elif engine == "deltalake":
    data = table.to_pyarrow_table(columns=COLUMNS)
else:
    raise SystemExit(f"unknown engine {engine!r}: use deltalake or polars")
rows = [
    [str(r["kafka_partition"]), str(r["kafka_offset"]), r["event_id"], str(r["dt"]), str(r["hour"]), str(r["total_usd_cents"]), round(r["created_at"].timestamp() * 1000)]
    for r in data.to_pylist()
]
protocol = table.protocol()
print(json.dumps({
    "engine": engine,
    "version": table.version(),
    "protocol": [protocol.min_reader_version, protocol.min_writer_version],
    "partitionColumns": table.metadata().partition_columns,
    "fields": [[f.name, str(f.type)] for f in table.schema().fields],
    "files": len(table.file_uris()),
    "txn": {app: table.transaction_version(app) for app in app_ids},
    "rows": rows,
}))
