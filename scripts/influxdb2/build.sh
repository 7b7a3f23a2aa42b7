#!/usr/bin/env bash
# A real InfluxDB 2.7.12 for this machine, which has no package of it: influxd built from its Go
# module source (with libflux, its Rust query engine, through influxdata's pkg-config wrapper),
# and an influx CLI. Used by scripts/influxdb2/check-tokens.ts; not by the test suite (a clean
# build takes about 6 minutes on 2 cores). Cached: a second run with the binaries there does nothing.
#
#   bash scripts/influxdb2/build.sh     # prints the directory holding bin/influxd and bin/influx
set -euo pipefail

INFLUXDB_VERSION=v2.7.12
# The influx CLI the influxdb:2.7.12 image ships is 2.7.5, which the Go module proxy here refuses;
# this is the CLI commit influxdb v2.7.12's own go.mod requires (October 2022), the closest we can get.
CLI_VERSION=v2.2.1-0.20221028161653-3285a03e9e28
DIR=${ORDERPULSE_CACHE:-$HOME/.cache/orderpulse}/influxdb-2.7.12
log() { echo "[influxdb2] $*" >&2; }

if [ -x "$DIR/bin/influxd" ] && [ -x "$DIR/bin/influx" ]; then
  echo "$DIR"
  exit 0
fi
for tool in go cargo cc; do
  command -v "$tool" >/dev/null || { log "needs $tool (Go 1.23+, Rust with cargo, a C compiler) to build InfluxDB; install it and run again"; exit 1; }
done
mkdir -p "$DIR/bin"
start=$(date +%s)

export GOCACHE=$DIR/gocache   # also where the pkg-config wrapper copies flux and runs cargo
export GOFLAGS=-buildvcs=false
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-$(nproc)}
export PKG_CONFIG=$DIR/bin/pkg-config
# flux pins Rust 1.72 in rust-toolchain.toml; use the installed toolchain instead.
if command -v rustup >/dev/null; then export RUSTUP_TOOLCHAIN=$(rustc --version | cut -d' ' -f2); fi
# libflux's crates say #![deny(warnings)], and newer rustc lints (mismatched_lifetime_syntaxes,
# dead_code) would fail them: cap lints at warn. RUSTFLAGS would not reach the host build of
# flux-core that flux's build.rs runs (the wrapper passes --target), so a rustc wrapper does it.
cat >"$DIR/bin/rustc-caplints" <<'WRAP'
#!/bin/sh
rustc="$1"; shift
case " $* " in
  *" --cap-lints "* | *" --cap-lints="*) exec "$rustc" "$@" ;;
esac
exec "$rustc" "$@" --cap-lints warn
WRAP
chmod +x "$DIR/bin/rustc-caplints"
export RUSTC_WRAPPER=$DIR/bin/rustc-caplints

module_dir() { (cd "$DIR" && go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); }

log "downloading the influxdb $INFLUXDB_VERSION module"
src=$(module_dir "github.com/influxdata/influxdb/v2@$INFLUXDB_VERSION")
rm -rf "$DIR/src" && cp -r "$src" "$DIR/src" && chmod -R u+w "$DIR/src"
cd "$DIR/src"
# The pkg-config wrapper's old go.mod parser refuses the `toolchain` directive; it is advisory only.
sed -i '/^toolchain /d' go.mod
go mod download
go build -o "$PKG_CONFIG" github.com/influxdata/pkg-config
log "building libflux with cargo (about a minute)"
# Once up front: when go build runs the wrapper, cargo's errors are not shown.
out=$(mktemp)
"$PKG_CONFIG" --cflags --libs flux >"$out" 2>&1 || { cat "$out" >&2; rm -f "$out"; exit 1; }
rm -f "$out"
log "building influxd (about 5 minutes; the Makefile's tags without the web UI's assets)"
go build -tags sqlite_foreign_keys,sqlite_json -ldflags "-X main.version=$INFLUXDB_VERSION -X main.commit=module-source" -o "$DIR/bin/influxd" ./cmd/influxd

log "building the influx CLI ($CLI_VERSION)"
cli=$(module_dir "github.com/influxdata/influx-cli/v2@$CLI_VERSION")
rm -rf "$DIR/cli-src" && cp -r "$cli" "$DIR/cli-src" && chmod -R u+w "$DIR/cli-src"
(cd "$DIR/cli-src" && go build -ldflags "-X main.version=$CLI_VERSION" -o "$DIR/bin/influx" ./cmd/influx)

log "built in $(($(date +%s) - start)) s: $("$DIR/bin/influxd" version)"
echo "$DIR"
