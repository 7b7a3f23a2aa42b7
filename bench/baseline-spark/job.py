"""The Spark Structured Streaming baseline: the original design's query, kept only to benchmark against.

    python job.py drain   --brokers H:P --topic T
    python job.py latency --brokers H:P --topic T --duration 60

Query (both modes): Kafka value -> from_json(created_at timestamp, total_usd_cents long), rows
whose created_at or total_usd_cents is null after parsing dropped, withWatermark("created_at",
"2 minutes"), groupBy(window(created_at, "1 minute")), count(*) and sum(total_usd_cents),
outputMode update, local[2].

stdout carries exactly one JSON line, the result; everything else (Spark's log, progress) goes to
stderr. In latency mode the line "[spark-baseline] query running" on stderr says the query has
resolved its `latest` offsets, so a producer started after it is measured from its first event.

Latency, one query, no change to the query's grouping: each micro-batch b reports in its progress
the event-time statistics of its input rows (eventTime min, avg, max, computed by Spark's
watermark operator over exactly the rows that reach the aggregation) and numInputRows; foreachBatch
records the wall time E_b at which the batch's updated window rows have been computed and are in
the driver (after collect()). An event of batch b waited E_b - created_at. Per batch, the mean is
exact (E_b - avg); the individual values lie in [E_b - max, E_b - min] and are taken as spread
evenly over that range (a flat-rate stream sends created_at in step with the wall clock, so a
batch's rows cover its slice of time evenly). p50/p99 are over that reconstructed distribution,
weighted by rows; p99_upper_ms is the bound that charges every row of a batch E_b - min.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime

import psutil
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType, TimestampType

EVENT_SCHEMA = StructType(
    [
        StructField("created_at", TimestampType()),
        StructField("total_usd_cents", LongType()),
    ]
)


def log(message: str) -> None:
    print(f"[spark-baseline] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["drain", "latency"])
    parser.add_argument("--brokers", required=True, help="Kafka bootstrap servers, host:port[,host:port]")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--duration", type=float, default=60.0, help="latency: seconds to measure, from the first event")
    parser.add_argument("--ready-timeout", type=float, default=600.0, help="latency: seconds to wait for the first event")
    parser.add_argument(
        "--shuffle-partitions",
        type=int,
        default=2,
        help="spark.sql.shuffle.partitions (state store partitions); default 2, one per core. Spark's own default, 200, "
        "costs 200 state-store tasks per micro-batch on 2 cores",
    )
    parser.add_argument("--max-offsets-per-trigger", type=int, default=0, help="0 = no limit (Spark's default)")
    parser.add_argument("--packages", default=os.environ.get("SPARK_KAFKA_PACKAGE", ""), help="spark.jars.packages")
    return parser.parse_args(argv)


class ResourceSampler:
    """CPU and peak RSS of this Python driver plus its JVM (and any other descendant), sampled every 250 ms."""

    def __init__(self) -> None:
        self._root = psutil.Process()
        self._stop = threading.Event()
        self.peak_rss_bytes = 0
        self._cpu_seconds_by_pid: dict[int, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> list[psutil.Process]:
        return [self._root, *self._root.children(recursive=True)]

    def _sample(self) -> None:
        rss = 0
        for proc in self._processes():
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    self._cpu_seconds_by_pid[proc.pid] = times.user + times.system
            except psutil.Error:
                continue
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)

    def cpu_seconds(self) -> float:
        self._sample()
        return sum(self._cpu_seconds_by_pid.values())

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def build_session(args: argparse.Namespace) -> SparkSession:
    builder = (
        SparkSession.builder.master("local[2]")
        .appName(f"orderpulse-spark-baseline-{args.mode}")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # its \r progress bar shares stderr lines with ours
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        # Enough progress history for a whole run; the default keeps the last 100 batches.
        .config("spark.sql.streaming.numRecentProgressUpdates", "1000000")
        .config("spark.driver.memory", "2g")
    )
    if args.packages:
        builder = builder.config("spark.jars.packages", args.packages).config(
            "spark.jars.ivySettings", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ivysettings.xml")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def windowed_counts(spark: SparkSession, args: argparse.Namespace, starting_offsets: str):
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.brokers)
        .option("subscribe", args.topic)
        .option("startingOffsets", starting_offsets)
        .option("failOnDataLoss", "false")
    )
    if args.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", str(args.max_offsets_per_trigger))
    parsed = (
        reader.load()
        .select(F.from_json(F.col("value").cast("string"), EVENT_SCHEMA).alias("e"))
        .select("e.created_at", "e.total_usd_cents")
        .where(F.col("created_at").isNotNull() & F.col("total_usd_cents").isNotNull())
        # Malformed events can carry absurd timestamps (year 58877) that Spark parses but the
        # driver's Python cannot hold when the windows are collected; the aggregator rejects them
        # too (future/past bounds), so keep the baseline to the same sane range.
        .where((F.col("created_at") >= F.lit("2000-01-01").cast("timestamp")) & (F.col("created_at") < F.lit("2100-01-01").cast("timestamp")))
    )
    return (
        parsed.withWatermark("created_at", "2 minutes")
        .groupBy(F.window("created_at", "1 minute"))
        .agg(F.count(F.lit(1)).alias("orders"), F.sum("total_usd_cents").alias("revenue_usd_cents"))
    )


def progress_dicts(query) -> list[dict]:
    """recentProgress as plain dicts: PySpark 3.x returns dicts, 4.x StreamingQueryProgress objects."""
    out = []
    for p in query.recentProgress:
        out.append(p if isinstance(p, dict) else json.loads(p.json))
    return out


def log_progress(progress: list[dict]) -> None:
    """Each micro-batch's progress (rows, durations by phase, event-time stats) into the log, for diagnosis."""
    for p in progress:
        log(
            "batch "
            + json.dumps({k: p.get(k) for k in ("batchId", "numInputRows", "inputRowsPerSecond", "processedRowsPerSecond", "durationMs", "eventTime")})
        )


def iso_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000.0


def weighted_percentile(points: list[tuple[float, float]], q: float) -> float:
    """points: (value, weight); q in [0, 1]. The smallest value whose cumulative weight reaches q."""
    points = sorted(points)
    total = sum(w for _, w in points)
    target = q * total
    running = 0.0
    for value, weight in points:
        running += weight
        if running >= target:
            return value
    return points[-1][0]


def run_drain(spark: SparkSession, args: argparse.Namespace, sampler: ResourceSampler) -> dict:
    windows: dict[str, tuple[int, int]] = {}

    def sink(batch_df, batch_id: int) -> None:
        # Update mode: each row is a window's running count and sum; the last one seen is final.
        for row in batch_df.collect():
            windows[row["window"]["start"].isoformat()] = (row["orders"], row["revenue_usd_cents"])

    checkpoint = tempfile.mkdtemp(prefix="orderpulse-spark-drain-")
    try:
        query_df = windowed_counts(spark, args, "earliest")
        cpu_before = sampler.cpu_seconds()
        started = time.perf_counter()
        query = (
            query_df.writeStream.outputMode("update")
            .foreachBatch(sink)
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        seconds = time.perf_counter() - started
        cpu_seconds = sampler.cpu_seconds() - cpu_before
        if query.exception() is not None:
            raise RuntimeError(f"the query failed: {query.exception()}")
        progress = progress_dicts(query)
        log_progress(progress)
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)
    events = sum(int(p.get("numInputRows", 0)) for p in progress)
    return {
        "mode": "drain",
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds) if seconds > 0 else 0,
        "batches": sum(1 for p in progress if int(p.get("numInputRows", 0)) > 0),
        "windows": len(windows),
        "counted": sum(c for c, _ in windows.values()),
        "revenue_usd_cents": sum(s for _, s in windows.values()),
        "cpu_percent": round(100.0 * cpu_seconds / seconds, 1) if seconds > 0 else 0,
        "peak_rss_mb": round(sampler.peak_rss_bytes / 2**20),
    }


def run_latency(spark: SparkSession, args: argparse.Namespace, sampler: ResourceSampler) -> dict:
    emitted_ms: dict[int, float] = {}

    def sink(batch_df, batch_id: int) -> None:
        batch_df.collect()  # the updated windows, computed and in the driver: this is the emission
        emitted_ms[batch_id] = time.time() * 1000.0

    checkpoint = tempfile.mkdtemp(prefix="orderpulse-spark-latency-")
    try:
        query = (
            windowed_counts(spark, args, "latest")
            .writeStream.outputMode("update")
            .foreachBatch(sink)
            .option("checkpointLocation", checkpoint)
            .trigger(processingTime="0 seconds")  # the next micro-batch as soon as the last one ends
            .start()
        )
        # Batch 0 pins the `latest` offsets; only after it may the producer start.
        deadline = time.monotonic() + 120
        while query.lastProgress is None:
            if query.exception() is not None:
                raise RuntimeError(f"the query failed: {query.exception()}")
            if time.monotonic() > deadline:
                raise RuntimeError("the query ran no first micro-batch within 120 s")
            time.sleep(0.05)
        log("query running")
        deadline = time.monotonic() + args.ready_timeout
        while not any(int(p.get("numInputRows", 0)) > 0 for p in progress_dicts(query)):
            if query.exception() is not None:
                raise RuntimeError(f"the query failed: {query.exception()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no event arrived within {args.ready_timeout} s of the query running")
            time.sleep(0.05)
        first_emitted_ms = time.time() * 1000.0
        log(f"first events arrived; measuring for {args.duration:g} s")
        cpu_before = sampler.cpu_seconds()
        started = time.perf_counter()
        time.sleep(args.duration)
        seconds = time.perf_counter() - started
        cpu_seconds = sampler.cpu_seconds() - cpu_before
        query.stop()
        progress = progress_dicts(query)
        log_progress(progress)
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)

    batches = []  # (emitted ms, rows, min, avg, max created_at ms, trigger ms)
    for p in progress:
        rows = int(p.get("numInputRows", 0))
        event_time = p.get("eventTime") or {}
        batch_id = int(p["batchId"])
        if rows == 0 or "min" not in event_time or batch_id not in emitted_ms:
            continue
        batches.append(
            (
                emitted_ms[batch_id],
                rows,
                iso_ms(event_time["min"]),
                iso_ms(event_time["avg"]),
                iso_ms(event_time["max"]),
                float(p.get("durationMs", {}).get("triggerExecution", 0)),
            )
        )
    if not batches:
        raise RuntimeError("no micro-batch with input rows and event-time statistics: did the producer run?")
    # "Steady": without the batches emitted in the first 10 s after the first events arrived
    # (JIT, code generation and the first, largest batch).
    steady_from = first_emitted_ms + 10_000
    result = {"mode": "latency", **latency_stats(batches)}
    result.update({f"steady_{k}": v for k, v in latency_stats([b for b in batches if b[0] >= steady_from]).items()})
    result.update(
        {
            "seconds": round(seconds, 3),
            "cpu_percent": round(100.0 * cpu_seconds / seconds, 1) if seconds > 0 else 0,
            "peak_rss_mb": round(sampler.peak_rss_bytes / 2**20),
        }
    )
    return result


def latency_stats(batches: list[tuple[float, int, float, float, float, float]]) -> dict:
    """p50/p99 of created_at-to-emission over the batches' rows, spread evenly over [min, max] per batch."""
    if not batches:
        return {"samples": 0}
    points: list[tuple[float, float]] = []  # (latency ms, rows)
    upper: list[tuple[float, float]] = []
    mean_sum = 0.0
    samples = 0
    for emitted, rows, lo, avg, hi, _ in batches:
        n = min(rows, 200)  # at most 200 points per batch, each weighing rows / n
        for i in range(n):
            points.append((emitted - (hi - (hi - lo) * (i + 0.5) / n), rows / n))
        upper.append((emitted - lo, rows))
        mean_sum += (emitted - avg) * rows
        samples += rows
    trigger_ms = [(b[5], 1.0) for b in batches]
    return {
        "p50_ms": round(weighted_percentile(points, 0.50)),
        "p99_ms": round(weighted_percentile(points, 0.99)),
        "max_ms": round(max(v for v, _ in upper)),
        "mean_ms": round(mean_sum / samples),
        "p99_upper_ms": round(weighted_percentile(upper, 0.99)),
        "samples": samples,
        "batches": len(batches),
        "batch_ms_p50": round(weighted_percentile(trigger_ms, 0.5)),
        "batch_ms_max": round(max(t for t, _ in trigger_ms)),
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sampler = ResourceSampler()
    sampler.start()
    t0 = time.perf_counter()
    spark = build_session(args)
    startup_seconds = time.perf_counter() - t0
    spark_version = spark.version
    log(f"Spark {spark_version} local[2] up in {startup_seconds:.1f} s")
    try:
        result = run_drain(spark, args, sampler) if args.mode == "drain" else run_latency(spark, args, sampler)
    finally:
        spark.stop()
        sampler.stop()
    result.update(
        {
            "spark": spark_version,
            "master": "local[2]",
            "shuffle_partitions": args.shuffle_partitions,
            "startup_seconds": round(startup_seconds, 1),
            "peak_rss_mb": round(sampler.peak_rss_bytes / 2**20),
        }
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
