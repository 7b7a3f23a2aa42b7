#!/usr/bin/env bash
# Installs what orderpulse needs on a fresh Debian machine, and nothing that is already there.
# Safe to run again. Used by ./orderpulse (and so by .ci/run); `--pipeline` installs only what
# the pipeline needs (the first four lines below).
#   - npm, from Debian's packages, when Bun must be installed and npm is missing
#   - JDK 17+ and Maven (the local Kafka broker), from Debian's packages
#   - InfluxDB 1.6 and VictoriaMetrics (the hot path's test servers), from Debian's packages; the
#     tests start them on free ports, so their Debian services are neither started nor left enabled
#   - Bun (pinned), from the npm registry, if `bun --version` is not the pinned version
#   - the project's packages (bun install --frozen-lockfile; Deno comes in as a devDependency)
#   - the Kafka broker's jars, resolved once through Maven (lib/kafka/local-broker.ts)
#   - a Python venv in .venv with pyarrow (pinned), the lake's interop test reads Parquet with it
#   - in the same venv, confluent-kafka (librdkafka, pinned): tests write topics with a client we did not write
#   - in the same venv, moto[server] (an S3-compatible server for the lake's tests), deltalake (delta-rs) and polars, pinned
#   - in the same venv, Jupyter's Python side for the notebooks (notebooks/requirements.txt), and the Deno kernel
set -euo pipefail

BUN_VERSION=1.4.5
cd "$(dirname "$0")/.."

only_pipeline=false
case "${1:-}" in
  "") ;;
  --pipeline) only_pipeline=true ;;
  *) echo "usage: bash scripts/setup.sh [--pipeline]" >&2; exit 2 ;;
esac

step() { printf '[setup] %s\n' "$*"; }

# apt-get and npm -g as root, or through sudo.
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else as_root=(false); fi
fi
apt_install() {
  if [ "${as_root[*]}" = "false" ]; then
    echo "[setup] need root to install Debian packages $*: run this as root, install sudo, or install them yourself" >&2
    exit 1
  fi
  "${as_root[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "$@"
}

bun_missing=false
[ "$(bun --version 2>/dev/null || true)" = "$BUN_VERSION" ] || bun_missing=true
apt_packages=()
"$bun_missing" && ! command -v npm >/dev/null 2>&1 && apt_packages+=(npm ca-certificates)
command -v java >/dev/null 2>&1 || apt_packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || apt_packages+=(maven)
if ((${#apt_packages[@]} > 0)); then
  step "installing Debian packages: ${apt_packages[*]}"
  apt_install "${apt_packages[@]}"
fi

# The test servers: the tests start their own on free ports. Debian's packages would start and
# enable a service each (influxd on 8086), so a policy-rc.d refuses the start while they install
# (unless one is there already), and the services are disabled afterwards where systemd runs.
server_packages=()
if ! "$only_pipeline"; then
  command -v influxd >/dev/null 2>&1 || server_packages+=(influxdb)
  command -v victoria-metrics >/dev/null 2>&1 || server_packages+=(victoria-metrics)
fi
if ((${#server_packages[@]} > 0)); then
  step "installing Debian packages: ${server_packages[*]} (the test servers; their services are not started or enabled)"
  own_policy=false
  if [ ! -e /usr/sbin/policy-rc.d ] && [ "${as_root[*]}" != "false" ]; then
    printf '#!/bin/sh\n# orderpulse scripts/setup.sh: no service starts while the test servers install\nexit 101\n' | "${as_root[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${as_root[@]}" chmod 755 /usr/sbin/policy-rc.d
    own_policy=true
  fi
  apt_install "${server_packages[@]}" || { "$own_policy" && "${as_root[@]}" rm -f /usr/sbin/policy-rc.d; exit 1; }
  "$own_policy" && "${as_root[@]}" rm -f /usr/sbin/policy-rc.d
  if [ -d /run/systemd/system ]; then
    for service in influxdb victoria-metrics; do "${as_root[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true; done
  fi
fi

java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  echo "[setup] Kafka 4 needs Java 17 or newer; found: $(java -version 2>&1 | head -n1)" >&2
  exit 1
fi

if "$bun_missing"; then
  command -v npm >/dev/null 2>&1 || { echo "[setup] npm is needed to install Bun $BUN_VERSION (or install Bun yourself)" >&2; exit 1; }
  step "installing Bun $BUN_VERSION (npm install -g bun@$BUN_VERSION)"
  npm_global=()
  # A global npm install writes under its prefix: root's, unless this user owns it.
  [ -w "$(npm prefix -g)" ] || npm_global=("${as_root[@]}")
  "${npm_global[@]}" npm install -g --no-fund --no-audit "bun@$BUN_VERSION"
fi
step "bun $(bun --version)"

step "installing packages (bun install --frozen-lockfile)"
bun install --frozen-lockfile

step "resolving the Kafka broker jars (Maven, cached after the first time): the default release and the oldest supported, which the tests also run"
bun -e 'import { resolveKafkaClasspath, kafkaVersion, SUPPORTED_KAFKA_RELEASES } from "./lib/kafka/local-broker.ts";
for (const release of new Set([kafkaVersion(), SUPPORTED_KAFKA_RELEASES[0]])) {
  resolveKafkaClasspath((line) => console.log(`[setup] ${line}`), release);
  console.log(`[setup] Kafka ${release} jars ready`);
}'
if "$only_pipeline"; then
  step "done (what the pipeline needs; bash scripts/setup.sh without --pipeline adds the tests' servers and Python)"
  exit 0
fi
PYARROW_VERSION=26.0.1
CONFLUENT_KAFKA_VERSION=2.16.1
MOTO_VERSION=5.2.5
DELTALAKE_VERSION=1.6.6
POLARS_VERSION=2.1.0
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  step "installing Debian packages: python3 python3-venv (the lake's interop test)"
  apt_install python3 python3-venv
fi
if [ ! -x .venv/bin/python ]; then
  step "creating the Python venv in .venv"
  python3 -m venv .venv
fi
if [ "$(.venv/bin/python -c 'import pyarrow; print(pyarrow.__version__)' 2>/dev/null || true)" != "$PYARROW_VERSION" ]; then
  step "installing pyarrow $PYARROW_VERSION into .venv (pip)"
  .venv/bin/pip install -q --disable-pip-version-check "pyarrow==$PYARROW_VERSION"
fi
step "pyarrow $(.venv/bin/python -c 'import pyarrow; print(pyarrow.__version__)')"
# librdkafka (confluent-kafka, with every codec and transactions bundled): the tests write topics
# with a producer we did not write, e.g. transactional (test/support/transactional_produce.py).
if [ "$(.venv/bin/python -c 'import confluent_kafka; print(confluent_kafka.__version__)' 2>/dev/null || true)" != "$CONFLUENT_KAFKA_VERSION" ]; then
  step "installing confluent-kafka $CONFLUENT_KAFKA_VERSION into .venv (pip)"
  .venv/bin/pip install -q --disable-pip-version-check "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
fi
# The lake on object storage: moto's S3 server (it honours If-None-Match on PUT, which the lake's
# commits need), and delta-rs (deltalake) and Polars, engines we did not write that read the lake's table.
if [ "$(.venv/bin/python -c 'import moto; print(moto.__version__)' 2>/dev/null || true)" != "$MOTO_VERSION" ] \
  || [ "$(.venv/bin/python -c 'import deltalake; print(deltalake.__version__)' 2>/dev/null || true)" != "$DELTALAKE_VERSION" ] \
  || [ "$(.venv/bin/python -c 'import polars; print(polars.__version__)' 2>/dev/null || true)" != "$POLARS_VERSION" ]; then
  step "installing moto[server] $MOTO_VERSION, deltalake $DELTALAKE_VERSION and polars $POLARS_VERSION into .venv (pip)"
  .venv/bin/pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" "deltalake==$DELTALAKE_VERSION" "polars==$POLARS_VERSION"
fi
# Notebooks: Jupyter's Python side (pinned) in the same .venv, and the Deno kernel for people
# (the tests' runner, notebooks/run_notebook.py, brings its own kernelspec for the pinned Deno).
step "installing the notebooks' Jupyter packages into .venv (notebooks/requirements.txt)"
.venv/bin/python -m pip install -q --disable-pip-version-check -r notebooks/requirements.txt
# Bun does not run the deno package's postinstall (untrusted), so its binary is linked into
# node_modules/deno on the first run of its launcher: run it once here, whatever the kernelspec says
# (a kernelspec left from an earlier checkout at the same path would otherwise skip that first run).
[ -x node_modules/deno/deno ] || ./node_modules/.bin/deno --version >/dev/null
deno_bin=$(readlink -f node_modules/deno/deno 2>/dev/null || true)
kernel_json="${XDG_DATA_HOME:-$HOME/.local/share}/jupyter/kernels/deno/kernel.json"
if [ -n "$deno_bin" ] && ! grep -qF "\"$deno_bin\"" "$kernel_json" 2>/dev/null; then
  step "registering the Deno Jupyter kernel (deno jupyter --install)"
  NO_COLOR=1 ./node_modules/.bin/deno jupyter --install --force
fi
step "done"
