#!/usr/bin/env bash
# Spark baseline setup: a venv with a pinned PySpark, and the Kafka connector resolved once
# into Ivy's cache in the home directory (~/.ivy2.5.2 on Spark 4.1; see ivysettings.xml) so job
# runs need no network.
# Idempotent: a marker in the venv records what was installed and resolved.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
venv="$here/.venv"
marker="$venv/.orderpulse-setup-$PYSPARK_VERSION-psutil-$PSUTIL_VERSION"
say() { echo "[spark-baseline setup] $*"; }

if [[ -f "$marker" ]]; then
  say "already set up (pyspark $PYSPARK_VERSION, connector resolved); nothing to do"
  exit 0
fi

command -v java >/dev/null || { say "java not found: install JDK 17+ (scripts/setup.sh does)"; exit 1; }
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [[ ! -x "$venv/bin/python" ]]; then
  say "creating venv $venv with $python"
  "$python" -m venv "$venv"
fi
say "pip install pyspark==$PYSPARK_VERSION psutil==$PSUTIL_VERSION (pyspark is a ~400 MB download the first time)"
"$venv/bin/pip" install --quiet "pyspark==$PYSPARK_VERSION" "psutil==$PSUTIL_VERSION"

say "resolving $SPARK_KAFKA_PACKAGE through Spark's own spark.jars.packages"
"$venv/bin/python" - "$SPARK_KAFKA_PACKAGE" "$here/ivysettings.xml" <<'PY'
import sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").appName("orderpulse-spark-baseline-setup")
         .config("spark.jars.packages", sys.argv[1]).config("spark.jars.ivySettings", sys.argv[2])
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
# Touch the source so a missing or broken jar fails here rather than in the first benchmark.
spark.read.format("kafka")
print(f"[spark-baseline setup] spark {spark.version} started with the Kafka connector")
spark.stop()
PY
touch "$marker"
say "done"
