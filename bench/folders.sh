#!/usr/bin/env bash
# Folder downloads and search (issue #17): this server against dufs and miniserve, side by side
# in one run, on loopback.
#
# Makes the data under a scratch folder (1 GiB in 64 files, 10,000 small files, 100,000
# entries to search, and the same 1 GiB as one file for the single-file rate), starts each
# server on its own port, downloads each folder as tar and zip with curl (to /dev/null), and
# reads each server's peak RSS (VmHWM) after each download; every server is restarted per
# download so the peak is that download's. Search: time to the first byte and to the end of a
# `?q=` that stops at 1,000 hits, and of one that walks all 100,000 entries.
#
# Usage: bench/folders.sh [-r ROUNDS] [-k]
#   -r N   rounds per measurement; medians are printed (3)
#   -k     keep the scratch data for the next run
# dufs and miniserve are installed with `cargo install --locked` into bench/.cache (a few
# minutes the first time, printed) unless DUFS=PATH and MINISERVE=PATH name binaries.
# The machine may be shared: compare ratios from one run.
set -euo pipefail

ROUNDS=3 KEEP=0
while getopts "r:kh" opt; do
  case $opt in
    r) ROUNDS=$OPTARG ;;
    k) KEEP=1 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$REPO/bench/.cache
DATA=${BENCH_DATA:-${TMPDIR:-/tmp}/folders-bench}
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

cargo build --quiet --release --locked --manifest-path "$REPO/Cargo.toml"
OURS=$REPO/target/release/http-server
if [ -z "${DUFS:-}" ] || [ -z "${MINISERVE:-}" ]; then
  if [ ! -x "$CACHE/bin/dufs" ] || [ ! -x "$CACHE/bin/miniserve" ]; then
    echo "installing dufs and miniserve into $CACHE (cargo install --locked)..." >&2
    start=$(date +%s)
    cargo install --quiet --locked dufs miniserve --root "$CACHE"
    echo "installed in $(($(date +%s) - start)) s" >&2
  fi
  DUFS=${DUFS:-$CACHE/bin/dufs}
  MINISERVE=${MINISERVE:-$CACHE/bin/miniserve}
fi

make_data() {
  [ -f "$DATA/.complete" ] && return
  rm -rf "$DATA"
  mkdir -p "$DATA/big" "$DATA/small" "$DATA/search"
  python3 - "$DATA" <<'EOF'
import os, sys
root = sys.argv[1]
block = os.urandom(1 << 20)
for i in range(64):
    with open(f"{root}/big/part-{i:02}.bin", "wb") as f:
        for _ in range(16):
            f.write(block)
with open(f"{root}/one.bin", "wb") as f:
    for _ in range(1024):
        f.write(block)
for i in range(10000):
    with open(f"{root}/small/note-{i:05}.txt", "wb") as f:
        f.write(block[i % 4096:][:1024])
for d in range(1000):
    os.mkdir(f"{root}/search/dir-{d:04}")
    for i in range(99):
        open(f"{root}/search/dir-{d:04}/file-{i:02}-{'match' if i % 10 == 0 else 'other'}.txt", "w").close()
EOF
  touch "$DATA/.complete"
}
make_data
trap '[ "$KEEP" = 1 ] || rm -rf "$DATA"; kill $(jobs -p) 2>/dev/null || true' EXIT

PORT=0
PID=0
start_server() { # name
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  case $1 in
    ours) "$OURS" --port "$PORT" --directory "$DATA" --max-search-results "${RESULTS:-1000}" 2>/dev/null & ;;
    dufs) "$DUFS" --bind 127.0.0.1 --port "$PORT" --allow-archive --allow-search "$DATA" >/dev/null 2>&1 & ;;
    miniserve) "$MINISERVE" -i 127.0.0.1 -p "$PORT" --enable-tar --enable-zip "$DATA" >/dev/null 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" && return
    sleep 0.1
  done
  echo "$1 did not start" >&2
  exit 1
}
stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
peak_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }

url_for() { # server what
  case "$1:$2" in
    *:one) echo "/files/one.bin" ;;
    ours:tar-*) echo "/files/${2#tar-}/?download=tar" ;;
    ours:zip-*) echo "/files/${2#zip-}/?download=zip" ;;
    dufs:zip-*) echo "/${2#zip-}/?zip" ;;
    miniserve:tar-*) echo "/${2#tar-}/?download=tar" ;;
    miniserve:zip-*) echo "/${2#zip-}/?download=zip" ;;
    *) echo "" ;;
  esac
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "n/a")}'; }

# one download: MB/s and peak RSS (MiB), medians over ROUNDS
measure() { # server what
  local path rates=() peaks=()
  path=$(url_for "$1" "$2")
  [ "$1" != ours ] && [ "$2" = one ] && path="/one.bin"
  if [ -z "$path" ]; then
    echo "n/a n/a"
    return
  fi
  for _ in $(seq "$ROUNDS"); do
    start_server "$1"
    out=$(curl -s -o /dev/null --max-time 300 -w '%{size_download} %{time_total} %{http_code}' "http://127.0.0.1:$PORT$path")
    read -r size secs code <<<"$out"
    rates+=("$(awk -v s="$size" -v t="$secs" -v c="$code" 'BEGIN {print (c == 200 && s > 0) ? s / t / 1e6 : 0}')")
    peaks+=("$(peak_mib)")
    stop_server
  done
  echo "$(printf '%s\n' "${rates[@]}" | median) $(printf '%s\n' "${peaks[@]}" | median)"
}

echo "folders bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $ROUNDS rounds, medians"
printf '%-22s %-10s %12s %12s\n' workload server MB/s peak_MiB
for what in one tar-big zip-big tar-small zip-small; do
  for server in ours dufs miniserve; do
    read -r rate peak <<<"$(measure "$server" "$what")"
    printf '%-22s %-10s %12s %12s\n' "$what" "$server" "$rate" "$peak"
  done
done

echo
echo "search over 100,000 entries (ours): seconds to first byte / to the end"
for case in "first 1,000 hits:1000" "walk all (10,000 hits):100000"; do
  label=${case%%:*}
  RESULTS=${case##*:} start_server ours
  firsts=() totals=()
  for _ in $(seq "$ROUNDS"); do
    read -r first total <<<"$(curl -s -o /dev/null --max-time 120 -w '%{time_starttransfer} %{time_total}' "http://127.0.0.1:$PORT/files/search/?q=match")"
    firsts+=("$first")
    totals+=("$total")
  done
  echo "$label: $(printf '%s\n' "${firsts[@]}" | median) / $(printf '%s\n' "${totals[@]}" | median), peak $(peak_mib) MiB"
  stop_server
done
start_server dufs
read -r first total <<<"$(curl -s -o /dev/null --max-time 120 -w '%{time_starttransfer} %{time_total}' "http://127.0.0.1:$PORT/search/?q=match")"
echo "dufs, the same search: $first / $total"
stop_server
