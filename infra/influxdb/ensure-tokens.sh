#!/bin/bash
# influxdb-init (infra/compose.yaml): makes sure the aggregator has a write-only token and
# Grafana a read-only one, each allowed INFLUX_BUCKET only, written to WRITER_TOKEN_DIR/token and
# READER_TOKEN_DIR/token. InfluxDB 2.x chooses a token's value, so a token is made once and kept:
# a file whose token InfluxDB still has is left alone (the running aggregator and Grafana keep
# working across `docker compose up`), and a token is made again only when its file is missing
# or InfluxDB no longer has it (a new InfluxDB volume, or an operator who deleted it); a token
# with the same description that the new one replaces is deleted.
# Checked against a real InfluxDB 2.7.12: bun run scripts/influxdb2/check-tokens.ts
#
# Runs in the influxdb image with its influx CLI (2.7.5), which reads INFLUX_HOST, INFLUX_ORG and
# INFLUX_TOKEN from the environment. The operator token comes from INFLUX_ADMIN_TOKEN_FILE and
# stays in this process.
set -euo pipefail

for variable in INFLUX_HOST INFLUX_ORG INFLUX_BUCKET INFLUX_ADMIN_TOKEN_FILE WRITER_TOKEN_DIR READER_TOKEN_DIR; do
  if [ -z "${!variable:-}" ]; then
    echo "ensure-tokens.sh: $variable is not set (infra/compose.yaml sets it for influxdb-init)" >&2
    exit 2
  fi
done
if [ ! -s "$INFLUX_ADMIN_TOKEN_FILE" ]; then
  echo "ensure-tokens.sh: cannot read the operator token from $INFLUX_ADMIN_TOKEN_FILE: run infra/make-secrets.sh before docker compose up" >&2
  exit 1
fi
INFLUX_TOKEN=$(<"$INFLUX_ADMIN_TOKEN_FILE")
export INFLUX_HOST INFLUX_ORG INFLUX_TOKEN

bucket_id=$(influx bucket list --name "$INFLUX_BUCKET" --hide-headers | cut -f 1)
if [ -z "$bucket_id" ]; then
  echo "ensure-tokens.sh: InfluxDB at $INFLUX_HOST has no bucket $INFLUX_BUCKET in org $INFLUX_ORG (its setup creates it from DOCKER_INFLUXDB_INIT_BUCKET)" >&2
  exit 1
fi

# The `"token": "..."` values in the CLI's JSON output, one per line.
tokens_in() { grep -o '"token": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'; }
# `id<TAB>description<TAB>token` of every authorization in `influx auth list --json` (flat
# objects, one field per line; the permissions are a list of strings).
authorizations() {
  influx auth list --json | awk '
    /"id":/          { id = $0; sub(/^[^:]*: *"/, "", id); sub(/".*$/, "", id) }
    /"description":/ { d = $0; sub(/^[^:]*: *"/, "", d); sub(/",? *$/, "", d) }
    /"token":/       { t = $0; sub(/^[^:]*: *"/, "", t); sub(/".*$/, "", t) }
    /^[[:space:]]*},?[[:space:]]*$/ { if (id != "") print id "\t" d "\t" t; id = ""; d = ""; t = "" }'
}

# ensure <role> <dir> <permission flag> <description>
ensure() {
  local role=$1 dir=$2 flag=$3 description=$4
  local file=$dir/token
  if [ -s "$file" ] && authorizations | cut -f 3 | grep -qxF -- "$(<"$file")"; then
    echo "kept the $role token ($description)"
    return
  fi
  local token
  token=$(influx auth create --description "$description" "$flag" "$bucket_id" --json | tokens_in)
  if [ -z "$token" ]; then
    echo "ensure-tokens.sh: InfluxDB made no $role token" >&2
    exit 1
  fi
  # Beside the file, then renamed: a reader never sees half a token. Readable by the one
  # container that mounts this volume, whatever user it runs as.
  mkdir -p "$dir"
  printf '%s' "$token" >"$file.new"
  chmod 0444 "$file.new"
  mv -f "$file.new" "$file"
  echo "made the $role token ($description)"
  # A token this one replaces (its file was lost) is deleted, so no copy of it stays valid.
  local id old_description old_token
  while IFS=$'\t' read -r id old_description old_token; do
    if [ "$old_description" = "$description" ] && [ "$old_token" != "$token" ]; then
      influx auth delete --id "$id" >/dev/null
      echo "deleted the $role token it replaces (id $id)"
    fi
  done < <(authorizations)
}

ensure writer "$WRITER_TOKEN_DIR" --write-bucket "orderpulse aggregator: write $INFLUX_BUCKET"
ensure reader "$READER_TOKEN_DIR" --read-bucket "orderpulse Grafana: read $INFLUX_BUCKET"
