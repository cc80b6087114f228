#!/usr/bin/env bash
# WebDAV (issue #16): this server against Apache 2.4 mod_dav_fs and rclone serve webdav, side by
# side in one run, on loopback.
#
# Makes the data under a scratch folder (a directory of 10,000 files, one of 100,000 entries,
# and a 1 GiB file), starts each server on its own port (Apache with a minimal configuration
# the script writes into the scratch folder), and measures:
#   - PROPFIND Depth 1 of the 10,000-file directory: requests/s over DURATION seconds from
#     THREADS keep-alive clients (Python http.client), and the server's peak RSS (VmHWM;
#     Apache's is the largest of its processes). Each server is started fresh for it.
#   - PROPFIND Depth 1 of the 100,000-entry directory (ours only): seconds and peak RSS.
#   - MOVE (a rename in the same directory) and COPY of the 1 GiB file: wall time per
#     operation, median of ROUNDS.
#
# Usage: bench/webdav.sh [-r ROUNDS] [-d SECONDS] [-t THREADS] [-k]
#   -r N   rounds for MOVE and COPY; medians are printed (3)
#   -d S   seconds of PROPFIND per server (10)
#   -t N   client threads for PROPFIND (2)
#   -k     keep the scratch data for the next run
# Needs apache2 (Debian's, with mod_dav_fs), rclone, curl and python3. Run as root: Apache
# drops to www-data, which gets the scratch folder. The machine may be shared: compare
# ratios from one run.
set -euo pipefail

ROUNDS=3 DURATION=10 THREADS=2 KEEP=0
while getopts "r:d:t:kh" opt; do
  case $opt in
    r) ROUNDS=$OPTARG ;;
    d) DURATION=$OPTARG ;;
    t) THREADS=$OPTARG ;;
    k) KEEP=1 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${BENCH_DATA:-${TMPDIR:-/tmp}/webdav-bench}
DATA=$SCRATCH/data
APACHE=${APACHE:-/usr/sbin/apache2}
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
for tool in curl python3 rclone "$APACHE"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

cargo build --quiet --release --locked --manifest-path "$REPO/Cargo.toml"
OURS=$REPO/target/release/http-server

make_data() {
  [ -f "$SCRATCH/.complete" ] && return
  rm -rf "$SCRATCH"
  mkdir -p "$DATA/ten-k" "$DATA/hundred-k" "$SCRATCH/apache"
  python3 - "$DATA" <<'EOF'
import os, sys
root = sys.argv[1]
block = os.urandom(1 << 20)
with open(f"{root}/big.bin", "wb") as f:
    for _ in range(1024):
        f.write(block)
for i in range(10000):
    with open(f"{root}/ten-k/note-{i:05}.txt", "wb") as f:
        f.write(block[i % 4096:][:1024])
for i in range(100000):
    open(f"{root}/hundred-k/entry-{i:06}.txt", "w").close()
EOF
  touch "$SCRATCH/.complete"
}
make_data
# Apache's children run as www-data and must write the lock database and the data.
chown -R www-data:www-data "$SCRATCH"
trap '[ "$KEEP" = 1 ] || rm -rf "$SCRATCH"; kill $(jobs -p) 2>/dev/null || true' EXIT

PORT=0
PID=0
PREFIX=
write_apache_conf() { # port
  cat >"$SCRATCH/apache/httpd.conf" <<EOF
ServerRoot "$SCRATCH/apache"
ServerName 127.0.0.1
Listen 127.0.0.1:$1
PidFile "$SCRATCH/apache/httpd.pid"
ErrorLog "$SCRATCH/apache/error.log"
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
LoadModule alias_module $APACHE_MODULES/mod_alias.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule dav_module $APACHE_MODULES/mod_dav.so
LoadModule dav_fs_module $APACHE_MODULES/mod_dav_fs.so
KeepAlive On
MaxKeepAliveRequests 0
DavLockDB "$SCRATCH/apache/DavLock"
Alias /dav/ "$DATA/"
<Directory "$DATA">
  Require all granted
</Directory>
<Location /dav/>
  Dav On
</Location>
EOF
}
start_server() { # name
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  case $1 in
    ours)
      PREFIX=/files
      "$OURS" --port "$PORT" --directory "$DATA" --max-connections-per-client 0 >/dev/null 2>&1 &
      ;;
    apache)
      PREFIX=/dav
      write_apache_conf "$PORT"
      "$APACHE" -f "$SCRATCH/apache/httpd.conf" -DFOREGROUND &
      ;;
    rclone)
      PREFIX=
      rclone serve webdav "$DATA" --addr "127.0.0.1:$PORT" >/dev/null 2>&1 &
      ;;
  esac
  PID=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT$PREFIX/" && return
    sleep 0.1
  done
  echo "$1 did not start" >&2
  exit 1
}
stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
# The largest VmHWM of the server and its children (Apache serves from its children).
peak_mib() {
  local pids
  pids="$PID $(pgrep -P "$PID" || true)"
  for p in $pids; do awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || true; done |
    sort -n | tail -1 | awk '{printf "%.1f", $1 / 1024}'
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "n/a")}'; }

# PROPFIND Depth 1 for SECONDS from CLIENTS keep-alive clients: "requests/s entries"
propfind_rate() { # path seconds clients
  timeout $((${2%.*} + 120)) python3 - "$PORT" "$1" "$2" "$3" <<'EOF'
import http.client, re, sys, threading, time
port, path, duration, threads = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
body = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
headers = {"Depth": "1", "Content-Type": "application/xml"}
counts, entries, errors = [0] * threads, [0], []
def run(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    end = time.monotonic() + duration
    while time.monotonic() < end:
        c.request("PROPFIND", path, body, headers)
        r = c.getresponse()
        data = r.read()
        if r.status != 207:
            errors.append(r.status)
            return
        counts[i] += 1
        entries[0] = len(re.findall(rb"</([A-Za-z0-9]+:)?response>", data))
ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
start = time.monotonic()
for t in ts: t.start()
for t in ts: t.join()
if errors:
    print("error", errors[0]); sys.exit(0)
print(f"{sum(counts) / (time.monotonic() - start):.2f} {entries[0]}")
EOF
}

# one request's wall time in ms, failing loudly unless the status is 2xx
timed() { # method path [headers...]
  local method=$1 path=$2 out code secs
  shift 2
  out=$(curl -s -o /dev/null --max-time 300 -X "$method" "$@" -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT$PREFIX$path")
  read -r code secs <<<"$out"
  case $code in 2*) awk -v s="$secs" 'BEGIN {printf "%.2f", s * 1000}' ;; *) echo "status-$code" ;; esac
}

# MOVE big.bin to moved.bin and back, and COPY it to copy.bin (deleted after): medians in ms
move_copy() {
  local moves=() copies=() dest
  sync
  for _ in $(seq "$ROUNDS"); do
    dest="http://127.0.0.1:$PORT$PREFIX/moved.bin"
    moves+=("$(timed MOVE /big.bin -H "Destination: $dest")")
    timed MOVE /moved.bin -H "Destination: http://127.0.0.1:$PORT$PREFIX/big.bin" >/dev/null
    sync
    copies+=("$(timed COPY /big.bin -H "Destination: http://127.0.0.1:$PORT$PREFIX/copy.bin")")
    timed DELETE /copy.bin >/dev/null
    sync
  done
  echo "$(printf '%s\n' "${moves[@]}" | median) $(printf '%s\n' "${copies[@]}" | median)"
}

echo "webdav bench: $(date -u '+%Y-%m-%d %H:%M UTC'), PROPFIND $DURATION s x $THREADS clients, MOVE/COPY medians of $ROUNDS"
printf '%-8s %14s %9s %10s %9s %9s\n' server propfind_rps entries peak_MiB move_ms copy_ms
for server in ours apache rclone; do
  start_server "$server"
  read -r rate entries <<<"$(propfind_rate "$PREFIX/ten-k/" "$DURATION" "$THREADS")"
  peak=$(peak_mib)
  stop_server
  start_server "$server"
  read -r move copy <<<"$(move_copy)"
  stop_server
  printf '%-8s %14s %9s %10s %9s %9s\n' "$server" "$rate" "$entries" "$peak" "$move" "$copy"
done

echo
start_server ours
read -r rate entries <<<"$(propfind_rate "$PREFIX/hundred-k/" 0.001 1)"
secs=$(awk -v r="$rate" 'BEGIN {printf "%.2f", 1 / r}')
echo "ours, PROPFIND Depth 1 of 100,000 entries: $entries responses in $secs s, peak $(peak_mib) MiB"
stop_server
