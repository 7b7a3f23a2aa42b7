#!/bin/sh
# The full stack's secrets, one file each, for compose's `secrets:` (infra/compose.yaml).
# Creates every missing one with a random value and keeps every existing one, so it is safe to
# run again; nothing else in the stack holds a password or a token.
set -eu

usage() {
  cat <<'EOF'
Usage: infra/make-secrets.sh [DIR]

Creates the compose stack's secret files in DIR (default: infra/secrets, where compose.yaml
looks), each holding 64 random hex digits: a missing file is created, an existing one is kept
(write your own value into a file to choose it). The files:

  influx_admin_password      InfluxDB's admin login (user INFLUX_ADMIN_USER in .env)
  influx_admin_token         InfluxDB's operator token: only InfluxDB and influxdb-init get it
  grafana_admin_password     Grafana's admin login (user GF_SECURITY_ADMIN_USER)
  objectstore_root_password  the object store's root login (user MINIO_ROOT_USER): only the
                             store and objectstore-init get it
  lake_secret_key            the lake workers' S3 secret key (access key LAKE_ACCESS_KEY): a
                             user objectstore-init creates, allowed only the lake's bucket

DIR is made readable by its owner only; the files in it are readable by all (0644) because
compose bind-mounts each file into containers that run as other users (Grafana 472, the
workers 1000), and the directory's mode is what keeps other users of this machine out.
EOF
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  -*) echo "infra/make-secrets.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "infra/make-secrets.sh: one directory at most (see --help)" >&2; exit 2; }

dir=${1:-$(dirname "$0")/secrets}
names="influx_admin_password influx_admin_token grafana_admin_password objectstore_root_password lake_secret_key"

mkdir -p "$dir"
chmod 700 "$dir"
for name in $names; do
  file=$dir/$name
  if [ -e "$file" ]; then
    if [ ! -s "$file" ]; then
      echo "infra/make-secrets.sh: $file is empty: write a value into it, or delete it to get a random one" >&2
      exit 1
    fi
    chmod 644 "$file"
    echo "kept    $file"
    continue
  fi
  # 32 random bytes as hex: safe in every image's shell, URL and config file, and longer than
  # InfluxDB's and MinIO's minimums (8 characters).
  value=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  [ ${#value} -eq 64 ] || { echo "infra/make-secrets.sh: could not read 32 bytes from /dev/urandom" >&2; exit 1; }
  # Written beside the file and renamed, so an interrupted run leaves no half-written secret.
  printf '%s' "$value" >"$file.tmp.$$"
  chmod 644 "$file.tmp.$$"
  mv "$file.tmp.$$" "$file"
  echo "created $file"
done
