#!/usr/bin/env bash
# The project's benchmark: this server against nginx, side by side, loopback only.
#
# Starts nginx with a configuration written here (the shared reference harness's @nginx: echo
# location, files by alias, gzip level 6, unlimited keep-alive requests, a worker per core),
# starts our release binary, runs each workload against both in interleaved rounds with wrk,
# and prints medians and ratios (project / nginx). Every run is bounded: wrk runs -d seconds,
# every curl has a timeout. Workloads that need a feature the binary lacks print n/a.
#
# Usage: bench/bench.sh [-d SECS] [-r ROUNDS] [-w LIST] [-q]
#   -d SECS   seconds per wrk run (10)
#   -r N      rounds; every round runs every workload on both servers (3)
#   -w LIST   workloads, comma-separated (all): ka1 ka16 ka64 ka256 conn small big gzip
#             idle auth tls tlsbig gzipfile listing
#   -q        smoke run: -d 2 -r 1, idle with 1,000 connections
# BENCH_BIN=PATH measures that binary instead of building this checkout.
# The machine is shared: compare ratios from one run, and prefer medians of 5 or more rounds.
set -euo pipefail

DUR=10 ROUNDS=3 ONLY="" IDLE_N=10000
while getopts "d:r:w:qh" opt; do
  case $opt in
    d) DUR=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    w) ONLY=$OPTARG ;;
    q) DUR=2 ROUNDS=1 IDLE_N=1000 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
missing=()
for tool in wrk nginx curl openssl htpasswd python3 ss; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  echo "install: apt-get install wrk nginx-light curl openssl apache2-utils python3 iproute2" >&2
  exit 1
fi
# BENCH_BIN measures another build (a branch's binary, say) with this script
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN
else
  cargo build --quiet --release --locked --manifest-path "$REPO/Cargo.toml"
  BIN=$REPO/target/release/http-server
fi
HELP=$("$BIN" --help)
has_flag() { grep -q -- "$1" <<<"$HELP"; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK=$(mktemp -d /tmp/http-server-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- test data -------------------------------------------------------------------------------
FILES=$WORK/files
mkdir -p "$FILES/many"
printf abc >"$FILES/abc.txt"
head -c 65536 /dev/urandom >"$FILES/64KiB.bin"
head -c 1048576 /dev/urandom >"$FILES/1MiB.bin"
(cd "$FILES/many" && seq -f "entry-%05g.txt" 10000 | xargs touch)
# 1 KiB of words and numbers (the reference harness's gzip body) and 1 MiB of such text
python3 - "$WORK" <<'EOF'
import random, sys
random.seed(4221)
w = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
     "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()
def text(n):
    s = ""
    while len(s) < n:
        s += random.choice(w) + str(random.randint(0, 99)) + "-"
    return s[:n]
open(sys.argv[1] + "/long.txt", "w").write(text(1024))
open(sys.argv[1] + "/files/1MiB.txt", "w").write(text(1 << 20))
EOF
chmod -R a+rX "$FILES"
LONG=$(cat "$WORK/long.txt")
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
htpasswd -bBc "$WORK/htpasswd" bench bench-password 2>/dev/null
AUTH="Authorization: Basic $(printf bench:bench-password | base64)"

# --- servers ---------------------------------------------------------------------------------
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 11000))
    ss -Hltn "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}

wait_http() { # URL: waits up to 10 s for any answer
  for _ in $(seq 100); do
    curl -sk -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

NGINX_PORT=$(free_port)
NGINX_TLS_PORT=$(free_port)
start_nginx() {
  local d=$WORK/nginx
  mkdir -p "$d"
  cat >"$d/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo "user root;")
worker_processes auto;
worker_rlimit_nofile $(ulimit -n);
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections $(($(ulimit -n) - 100)); }
http {
  access_log off;
  client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fcgi;
  uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
  types { text/plain txt; }
  default_type application/octet-stream;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 10000000; keepalive_timeout 600s;
  gzip on; gzip_types text/plain; gzip_min_length 0; gzip_comp_level 6; gzip_vary off;
  ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    listen 127.0.0.1:$NGINX_TLS_PORT ssl backlog=4096;
    location = / { return 200 ""; }
    location ~ ^/echo/(.*)\$ { default_type text/plain; return 200 \$1; }
    location /files/ { alias $FILES/; autoindex on; }
  }
}
EOF
  nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_http "http://127.0.0.1:$NGINX_PORT/" || { echo "nginx did not start" >&2; cat "$d/error.log" >&2; exit 1; }
}

start_ours() { # NAME ARGS...: sets PORT_<NAME> and PID_<NAME>
  local name=$1 log=$WORK/$1.log port=""
  shift
  # every load comes from 127.0.0.1: the per-client cap would turn the idle workload into 503s
  local cap=()
  has_flag --max-connections-per-client && cap=(--max-connections-per-client 0)
  "$BIN" --port 0 --directory "$FILES" "${cap[@]}" "$@" 2>"$log" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$name did not start:" >&2; cat "$log" >&2; exit 1; }
  printf -v "PORT_$name" %s "$port"
  printf -v "PID_$name" %s "$pid"
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# CPU seconds (user + system, in clock ticks) of a process and its children
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

start_nginx
start_ours plain
TLS_OK=0 AUTH_OK=0
if has_flag --tls-cert && has_flag --tls-key; then
  start_ours tls --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
  wait_http "https://127.0.0.1:$PORT_tls/echo/abc" && TLS_OK=1
fi
if has_flag --auth-file; then
  private=()
  has_flag --private && private=(--private)
  start_ours auth --auth-file "$WORK/htpasswd" "${private[@]}"
  [ "$(curl -s --max-time 3 -H "$AUTH" "http://127.0.0.1:$PORT_auth/echo/abc")" = abc ] && AUTH_OK=1
fi
GZIPFILE_OK=0 LISTING_OK=0
curl -s --max-time 5 -H 'Accept-Encoding: gzip' -D - -o /dev/null "http://127.0.0.1:$PORT_plain/files/1MiB.txt" \
  | grep -qi '^content-encoding: *gzip' && GZIPFILE_OK=1
curl -s --max-time 5 -H 'Accept: text/html' -D - -o /dev/null "http://127.0.0.1:$PORT_plain/files/many/" \
  | grep -qi '^content-type: *text/html' && LISTING_OK=1
GZ_NGINX=$(curl -s --max-time 3 -H 'Accept-Encoding: gzip' "http://127.0.0.1:$NGINX_PORT/echo/$LONG" | wc -c)
GZ_OURS=$(curl -s --max-time 3 -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT_plain/echo/$LONG" | wc -c)

# --- workloads ---------------------------------------------------------------------------------
# Each prints "rps p99_ms errors cpu_us_per_request MBps" for one server.
RESULTS=$WORK/results.tsv
: >"$RESULTS"

run_wrk() { # PID CONNS URL [HEADER...]
  local pid=$1 conns=$2 url=$3 before after out
  shift 3
  local headers=()
  for h in "$@"; do headers+=(-H "$h"); done
  before=$(cpu_ticks "$pid")
  out=$(wrk -t "$((conns < 2 ? 1 : 2))" -c "$conns" -d "${DUR}s" --timeout 5s --latency "${headers[@]}" "$url" 2>&1)
  after=$(cpu_ticks "$pid")
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    function mb(v) { if (v ~ /KB$/) return v / 1024; if (v ~ /MB$/) return v + 0; if (v ~ /GB$/) return v * 1024; return v / 1048576 }
    /^ +99%/ { p99 = ms($2) }
    /Socket errors/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx/ { errors += $NF }
    /^ +[0-9]+ requests in/ { requests = $1 }
    /^Requests\/sec/ { rps = $2 }
    /^Transfer\/sec/ { mbps = mb($2) }
    END {
      cpu = requests > 0 ? ticks / hz * 1e6 / requests : 0
      printf "%.0f %.3f %d %.2f %.1f\n", rps, p99, errors, cpu, mbps
    }' <<<"$out"
}

# workload -> "description|kind|conns|path|header" (kind picks the two servers compared)
declare -A DESC=(
  [ka1]="keep-alive GET /echo/abc, 1 connection|plain|1|/echo/abc|"
  [ka16]="keep-alive GET /echo/abc, 16 connections|plain|16|/echo/abc|"
  [ka64]="keep-alive GET /echo/abc, 64 connections|plain|64|/echo/abc|"
  [ka256]="keep-alive GET /echo/abc, 256 connections|plain|256|/echo/abc|"
  [conn]="new connection per request, 16 clients|plain|16|/echo/abc|Connection: close"
  [small]="GET /files/64KiB.bin, 16 connections (MB/s)|plain|16|/files/64KiB.bin|"
  [big]="GET /files/1MiB.bin, 16 connections (MB/s)|plain|16|/files/1MiB.bin|"
  [gzip]="gzip GET /echo/<1 KiB>, 16 connections|plain|16|/echo/$LONG|Accept-Encoding: gzip"
  [auth]="authenticated keep-alive GET, 64 connections, vs our anonymous|auth|64|/echo/abc|$AUTH"
  [tls]="TLS keep-alive GET /echo/abc, 64 connections|tls|64|/echo/abc|"
  [tlsbig]="TLS GET /files/1MiB.bin, 16 connections (MB/s)|tls|16|/files/1MiB.bin|"
  [gzipfile]="gzip on the fly of a 1 MiB text file, 16 connections|plain|16|/files/1MiB.txt|Accept-Encoding: gzip"
  [listing]="HTML listing of a 10,000-entry directory, 16 connections|plain|16|/files/many/|Accept: text/html"
)
ORDER=(ka1 ka16 ka64 ka256 conn small big gzip auth tls tlsbig gzipfile listing)
wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
available() {
  case $1 in
    auth) [ $AUTH_OK = 1 ] ;;
    tls | tlsbig) [ $TLS_OK = 1 ] ;;
    gzipfile) [ $GZIPFILE_OK = 1 ] ;;
    listing) [ $LISTING_OK = 1 ] ;;
    *) true ;;
  esac
}

for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  for w in "${ORDER[@]}"; do
    wanted "$w" && available "$w" || continue
    IFS='|' read -r _ kind conns path header <<<"${DESC[$w]}"
    case $kind in
      plain) ours_url="http://127.0.0.1:$PORT_plain$path" ours_pid=$PID_plain ;;
      auth) ours_url="http://127.0.0.1:$PORT_auth$path" ours_pid=$PID_auth ;;
      tls) ours_url="https://127.0.0.1:$PORT_tls$path" ours_pid=$PID_tls ;;
    esac
    if [ "$kind" = auth ]; then
      # the reference is our own anonymous server
      ref_url="http://127.0.0.1:$PORT_plain$path" ref_pid=$PID_plain ref_header=""
    else
      scheme=http port=$NGINX_PORT
      [ "$kind" = tls ] && scheme=https port=$NGINX_TLS_PORT
      ref_url="$scheme://127.0.0.1:$port$path" ref_pid=$NGINX_PID ref_header=$header
    fi
    # alternate which server goes first
    if ((round % 2)); then
      ref=$(run_wrk "$ref_pid" "$conns" "$ref_url" ${ref_header:+"$ref_header"})
      ours=$(run_wrk "$ours_pid" "$conns" "$ours_url" ${header:+"$header"})
    else
      ours=$(run_wrk "$ours_pid" "$conns" "$ours_url" ${header:+"$header"})
      ref=$(run_wrk "$ref_pid" "$conns" "$ref_url" ${ref_header:+"$ref_header"})
    fi
    printf '%s\tref\t%s\n%s\tours\t%s\n' "$w" "$ref" "$w" "$ours" >>"$RESULTS"
  done
done

# --- idle connections (fresh servers: memory) --------------------------------------------------
IDLE_LINE=""
if wanted idle; then
  echo "idle: $IDLE_N connections" >&2
  stop_pid "$NGINX_PID"
  start_nginx
  start_ours idle
  idle_probe() { # PID PORT
    timeout -k 2 120 python3 "$REPO/bench/idle.py" --pid "$1" --port "$2" --count "$IDLE_N"
  }
  IDLE_REF=$(idle_probe "$NGINX_PID" "$NGINX_PORT")
  IDLE_OURS=$(idle_probe "$PID_idle" "$PORT_idle")
fi

# --- report ----------------------------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { awk -F'\t' -v w="$1" -v who="$2" -v c="$3" '$1 == w && $2 == who {split($3, f, " "); print f[c]}' "$RESULTS" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 > 0 && a != "nan") printf "%.2f", a / b; else print "n/a"}'; }

echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $ROUNDS round(s) of ${DUR}s, medians; ratio = project / nginx"
echo "(auth: project / our anonymous server). nginx $(nginx -v 2>&1 | grep -o '[0-9.]*$'), $(nproc) cores"
printf '%-64s %12s %12s %7s %24s\n' workload "nginx (ref)" project ratio "p99 ms, CPU us per req"
for w in "${ORDER[@]}"; do
  wanted "$w" || continue
  desc=${DESC[$w]%%|*}
  if ! available "$w"; then
    printf '%-64s %12s %12s %7s\n' "$desc" n/a n/a n/a
    continue
  fi
  c=1
  [[ $desc == *"MB/s"* ]] && c=5
  r=$(col "$w" ref $c) o=$(col "$w" ours $c)
  errors=$(($(col "$w" ref 3 | cut -d. -f1) + $(col "$w" ours 3 | cut -d. -f1)))
  detail="$(col "$w" ref 2)/$(col "$w" ours 2) ms, $(col "$w" ref 4)/$(col "$w" ours 4) us"
  [ "$errors" -gt 0 ] && detail="$detail, ERRORS $errors"
  printf '%-64s %12s %12s %7s %24s\n' "$desc" "$r" "$o" "$(ratio "$o" "$r")" "$detail"
done
wanted gzip && echo "gzip body bytes for the 1 KiB echo: nginx $GZ_NGINX, project $GZ_OURS"
if [ -n "${IDLE_OURS:-}" ]; then
  echo "$IDLE_N idle keep-alive connections:"
  echo "  nginx:   $IDLE_REF"
  echo "  project: $IDLE_OURS"
fi
