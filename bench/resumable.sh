#!/usr/bin/env bash
# Resumable uploads (issue 18) against a plain upload of the same bytes, on loopback, with curl.
#
# Makes 1 GiB of random bytes under a scratch folder (and the same split into 8 MiB pieces,
# since curl sends a file, not a range of one), starts the server on its own port and measures,
# each as the wall time of the whole exchange, median of ROUNDS:
#   - plain: `PUT /files/NAME` of the 1 GiB (curl -T), answered once the file is synced and in
#     place;
#   - one append: creation (`PUT` with `Upload-Complete: ?0`, `Upload-Length`, no content: 201
#     and `Location`), then one `PATCH` with all of it and `Upload-Complete: ?1`;
#   - 8 MiB appends: the same creation, then one `PATCH` per piece (`Upload-Offset` of the
#     bytes so far, `?1` on the last), all on one keep-alive connection (one curl, `--next`).
# MB/s and the ratio to the plain upload's rate (targets: 0.9 for one append, 0.7 for 8 MiB
# appends). Then, on a freshly started server, CLIENTS resumable uploads of SIZE_MIB each at
# once (8 MiB appends) and the server's peak RSS (VmHWM; target under 64 MiB).
#
# Usage: bench/resumable.sh [-r ROUNDS] [-c CLIENTS] [-s SIZE_MIB] [-k]
#   -r N   rounds (the three kinds take turns in each); medians are printed (3)
#   -c N   concurrent resumable uploads for the RSS figure (16)
#   -s N   MiB per concurrent upload (256)
#   -k     keep the scratch data for the next run
# Needs curl (7.84 or later, for %header{}) and python3, and about 3 GiB of free disk besides
# CLIENTS x SIZE_MIB. The machine may be shared: compare ratios from one run.
set -euo pipefail

ROUNDS=3 CLIENTS=16 SIZE_MIB=256 KEEP=0
while getopts "r:c:s:kh" opt; do
  case $opt in
    r) ROUNDS=$OPTARG ;;
    c) CLIENTS=$OPTARG ;;
    s) SIZE_MIB=$OPTARG ;;
    k) KEEP=1 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${BENCH_DATA:-${TMPDIR:-/tmp}/resumable-bench}
SERVED=$SCRATCH/served
PIECE=$((8 << 20))
SIZE=$((1 << 30))
V='Upload-Draft-Interop-Version: 8'
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
[ $((SIZE_MIB % 8)) = 0 ] && [ "$SIZE_MIB" -le 1024 ] || { echo "-s: a multiple of 8, at most 1024" >&2; exit 2; }

cargo build --quiet --release --locked --manifest-path "$REPO/Cargo.toml"
OURS=${BENCH_BIN:-$REPO/target/release/http-server}

make_data() {
  [ -f "$SCRATCH/.complete" ] && return
  rm -rf "$SCRATCH"
  mkdir -p "$SCRATCH/pieces"
  python3 - "$SCRATCH" "$PIECE" <<'EOF'
import os, sys
root, piece = sys.argv[1], int(sys.argv[2])
block = os.urandom(1 << 20)
with open(f"{root}/big.bin", "wb") as whole:
    for i in range((1 << 30) // piece):
        # every piece differs, so that a misplaced one cannot go unnoticed
        data = (block[i:] + block[:i]) * (piece >> 20)
        whole.write(data)
        with open(f"{root}/pieces/{i:04}", "wb") as f:
            f.write(data)
EOF
  touch "$SCRATCH/.complete"
}
make_data
rm -rf "$SERVED"
mkdir -p "$SERVED"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$SERVED"; [ "$KEEP" = 1 ] || rm -rf "$SCRATCH"' EXIT

PORT=0
PID=0
BASE=
start_server() {
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$OURS" --port "$PORT" --directory "$SERVED" --max-connections-per-client 0 >/dev/null 2>&1 &
  PID=$!
  BASE=http://127.0.0.1:$PORT
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "$BASE/" && return
    sleep 0.1
  done
  echo "the server did not start" >&2
  exit 1
}
stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
peak_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "n/a")}'; }
now() { date +%s.%N; }

# Creates a resumable upload of LENGTH bytes at NAME: its Location.
create() { # name length
  local out code location
  out=$(curl -s -o /dev/null -X PUT -H "$V" -H 'Upload-Complete: ?0' -H "Upload-Length: $2" \
    -H 'Content-Length: 0' -w '%{http_code} %header{location}' "$BASE/files/$1")
  read -r code location <<<"$out"
  [ "$code" = 201 ] || { echo "creation of $1: $code" >&2; exit 1; }
  echo "$location"
}

# PATCHes the first COUNT pieces to LOCATION, one request each on one connection; the last
# completes the upload. Fails unless every answer is 2xx.
append_pieces() { # location count
  local args=() off=0 i complete codes
  for ((i = 0; i < $2; i++)); do
    complete='?0'
    [ $((i + 1)) = "$2" ] && complete='?1'
    [ "$i" -gt 0 ] && args+=(--next)
    args+=(-s -o /dev/null -w '%{http_code}\n' -X PATCH -H "$V"
      -H 'Content-Type: application/partial-upload' -H "Upload-Offset: $off"
      -H "Upload-Complete: $complete" -T "$SCRATCH/pieces/$(printf %04d "$i")" "$BASE$1")
    off=$((off + PIECE))
  done
  codes=$(curl "${args[@]}")
  [ "$(grep -c '^2' <<<"$codes")" = "$2" ] || { echo "an append to $1 failed: $codes" >&2; exit 1; }
}

# One upload of the 1 GiB as KIND (plain, one, pieces): seconds, checked and removed after.
upload_once() { # kind
  local start end location code
  start=$(now)
  case $1 in
    plain)
      code=$(curl -s -o /dev/null -w '%{http_code}' -T "$SCRATCH/big.bin" "$BASE/files/up.bin")
      [ "$code" = 201 ] || { echo "plain PUT: $code" >&2; exit 1; }
      ;;
    one)
      location=$(create up.bin "$SIZE")
      code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H "$V" \
        -H 'Content-Type: application/partial-upload' -H 'Upload-Offset: 0' \
        -H 'Upload-Complete: ?1' -T "$SCRATCH/big.bin" "$BASE$location")
      [ "$code" = 201 ] || { echo "one append: $code" >&2; exit 1; }
      ;;
    pieces)
      location=$(create up.bin "$SIZE")
      append_pieces "$location" $((SIZE / PIECE))
      ;;
  esac
  end=$(now)
  [ "$(stat -c %s "$SERVED/up.bin")" = "$SIZE" ] || { echo "$1: wrong size" >&2; exit 1; }
  rm "$SERVED/up.bin"
  sync
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}'
}

echo "resumable bench: $(date -u '+%Y-%m-%d %H:%M UTC'), 1 GiB, medians of $ROUNDS; scratch $SCRATCH"
start_server
# one untimed upload first: the page cache holds the source from then on, as for the rest
upload_once plain >/dev/null
# the kinds take turns, round by round, so that a slow spell of a shared machine is spread
declare -A secs rounds
for _ in $(seq "$ROUNDS"); do
  for kind in plain one pieces; do rounds[$kind]+="$(upload_once "$kind") "; done
done
for kind in plain one pieces; do
  secs[$kind]=$(printf '%s\n' ${rounds[$kind]} | median)
done
stop_server

rate() { awk -v s="${secs[$1]}" -v n="$SIZE" 'BEGIN {printf "%.0f", n / s / 1e6}'; }
ratio() { awk -v a="${secs[plain]}" -v b="${secs[$1]}" 'BEGIN {printf "%.2f", a / b}'; }
row() { printf '%-26s %8s %6s %6s %7s   %s\n' "$@"; }
row upload seconds MB/s ratio target rounds
row "plain PUT" "${secs[plain]}" "$(rate plain)" 1 "" "${rounds[plain]}"
row "resumable, one append" "${secs[one]}" "$(rate one)" "$(ratio one)" "0.9" "${rounds[one]}"
row "resumable, 8 MiB appends" "${secs[pieces]}" "$(rate pieces)" "$(ratio pieces)" "0.7" "${rounds[pieces]}"

# CLIENTS uploads at once on a fresh server, so that its peak is theirs
start_server
start=$(now)
clients=()
for c in $(seq "$CLIENTS"); do
  (append_pieces "$(create "many-$c.bin" $((SIZE_MIB << 20)))" $((SIZE_MIB / 8))) &
  clients+=($!)
done
for c in "${clients[@]}"; do wait "$c"; done
end=$(now)
peak=$(peak_mib)
for c in $(seq "$CLIENTS"); do
  [ "$(stat -c %s "$SERVED/many-$c.bin")" = $((SIZE_MIB << 20)) ] || { echo "many-$c.bin: wrong size" >&2; exit 1; }
done
stop_server
awk -v n="$CLIENTS" -v m="$SIZE_MIB" -v a="$start" -v b="$end" -v p="$peak" 'BEGIN {
  printf "%d resumable uploads of %d MiB at once (8 MiB appends): %.1f s, %.0f MB/s in all, peak RSS %s MiB (target < 64)\n",
    n, m, b - a, n * m * 1048576 / (b - a) / 1e6, p }'
