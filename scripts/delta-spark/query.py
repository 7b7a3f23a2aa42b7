"""The original demo's batch query on the lake's Delta table, in Apache Spark with Delta Lake
(delta-spark), for scripts/delta-spark/run.ts: per user, the orders and the sum of their amounts
(`groupBy("user_id").sum(...)`), over the table's latest version, again and again while the
table changes underneath.

argv: the table path, the Ivy settings file, the number of reads. Prints "ready" once Spark has
started, then one JSON object per read: {"version", "rows", "users", "seconds",
"per_user": {user_id: [orders, sum_total_usd_cents as a string]}}.
"""
import json
import sys
import time

from delta import configure_spark_with_delta_pip
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

path, ivy_settings, reads = sys.argv[1], sys.argv[2], int(sys.argv[3])
builder = (
    SparkSession.builder.master("local[2]")
    .appName("orderpulse-delta-spark")
    .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
    .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
    .config("spark.jars.ivySettings", ivy_settings)
    .config("spark.ui.enabled", "false")
    .config("spark.sql.session.timeZone", "UTC")
)
spark = configure_spark_with_delta_pip(builder).getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
print("ready", flush=True)
for _ in range(reads):
    started = time.time()
    version = DeltaTable.forPath(spark, path).history(1).collect()[0]["version"]
    orders = spark.read.format("delta").option("versionAsOf", version).load(path)
    per_user = orders.groupBy("user_id").agg(F.count("*").alias("orders"), F.sum("total_usd_cents").alias("revenue")).collect()
    rows = orders.count()
    print(json.dumps({
        "version": version,
        "rows": rows,
        "users": len(per_user),
        "seconds": round(time.time() - started, 1),
        "per_user": {r["user_id"]: [r["orders"], str(r["revenue"])] for r in per_user},
    }), flush=True)
spark.stop()
