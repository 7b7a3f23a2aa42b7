"""Reads lake files with pyarrow for test/lake-interop.test.ts; prints JSON on stdout.

argv: the lake root, then the lake paths of the files to read. Output: the Arrow schema (Hive
partition columns dt/hour included), each file's codecs and whether created_at has min/max
statistics, and every row with int64 as strings and timestamps as epoch ms.
"""
import json
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

root, paths = sys.argv[1], sys.argv[2:]
files = [f"{root}/{p}" for p in paths]
dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=root)
table = dataset.to_table()


def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "timestamp"):
        return round(value.timestamp() * 1000)
    return value


footers = []
for f in files:
    meta = pq.ParquetFile(f).metadata
    codecs = sorted({meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)})
    names = [meta.schema.column(c).path for c in range(meta.num_columns)]
    at = names.index("created_at")
    stats = all(meta.row_group(g).column(at).statistics.has_min_max for g in range(meta.num_row_groups))
    footers.append({"codecs": codecs, "createdAtStats": stats})

print(json.dumps({
    "schema": {field.name: str(field.type) for field in table.schema},
    "footers": footers,
    "rows": [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()],
    "pyarrow": pa.__version__,
}))
