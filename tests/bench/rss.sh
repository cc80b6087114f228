#!/usr/bin/env bash
# Peak server memory while 8 clients download a 1 GiB file and 8 upload one (issue 4), over
# plain HTTP or, with `tls`, over HTTPS (issue 8: files then pass through a reused buffer
# instead of sendfile). A benchmark, not a test: it prints figures and asserts nothing.
# Loopback only.
# Usage: tests/bench/rss.sh [SIZE] [tls]   (default 1G; needs curl, openssl for tls, and about
# 8 x SIZE of free disk)
set -euo pipefail
size=${1:-1G}
mode=${2:-plain}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cargo build --quiet --release --locked --manifest-path "$repo/Cargo.toml"
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$work/served"
truncate -s "$size" "$work/served/big.bin"   # sparse: reading it costs no disk I/O
truncate -s "$size" "$work/upload.bin"
tls_args=()
scheme=http
curl_tls=()
if [ "$mode" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  tls_args=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
  scheme=https
  curl_tls=(--cacert "$work/cert.pem")
fi
RUST_LOG=info,access=off "$repo/target/release/http-server" --port 0 --directory "$work/served" "${tls_args[@]}" 2>"$work/log" &
pid=$!
port=""
for _ in $(seq 100); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/log" 2>/dev/null | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start" >&2; exit 1; }
base="$scheme://127.0.0.1:$port/files"
start=$(date +%s.%N)
clients=()
for i in $(seq 8); do
  curl "${curl_tls[@]}" -sS --fail -o /dev/null "$base/big.bin" & clients+=($!)
  curl "${curl_tls[@]}" -sS --fail -o /dev/null -T "$work/upload.bin" "$base/up$i.bin" & clients+=($!)
done
failed=0
for c in "${clients[@]}"; do wait "$c" || failed=$((failed + 1)); done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
stored=$(find "$work/served" -name 'up*.bin' -size "$(stat -c %s "$work/upload.bin")c" | wc -l)
echo "mode=$mode size=$size clients=16 failed=$failed uploads_stored_whole=$stored/8 seconds=$elapsed server_peak_rss_kb=$peak"
