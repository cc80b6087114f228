#!/usr/bin/env python3
"""Idle keep-alive connections for bench.sh: opens COUNT connections to 127.0.0.1:PORT, sends
one request on each and reads its response, then, holding them all, reports the server's RSS
and threads (summed over its process tree) and the latency of 20 fresh requests. Loopback only,
bounded: every socket operation has a timeout."""
import argparse, os, selectors, socket, struct, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--count", type=int, default=10000)
a = ap.parse_args()
ADDR = ("127.0.0.1", a.port)
REQ = b"GET /echo/abc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def tree(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                kids.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(d))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        out.append(todo.pop())
        todo.extend(kids.get(out[-1], []))
    return out


def memory():
    rss = threads = 0
    for pid in tree(a.pid):
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads += int(line.split()[1])
        except OSError:
            pass
    return rss, threads


def fresh():
    start = time.perf_counter()
    with socket.create_connection(ADDR, timeout=3) as s:
        s.sendall(b"GET /echo/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        raise OSError("not 200")
    return (time.perf_counter() - start) * 1000


start = time.perf_counter()
socks, sel, failed = [], selectors.DefaultSelector(), 0
for _ in range(a.count):
    try:
        s = socket.create_connection(ADDR, timeout=3)
        # close with RST: leave no client TIME_WAIT behind
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(REQ)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    except OSError:
        failed += 1
pending, ok, deadline = len(socks), 0, time.perf_counter() + 30
while pending and time.perf_counter() < deadline:
    for key, _ in sel.select(timeout=1):
        try:
            ok += key.fileobj.recv(65536).startswith(b"HTTP/1.1 200")
        except OSError:
            pass
        sel.unregister(key.fileobj)
        pending -= 1
opened = time.perf_counter() - start
time.sleep(1)
rss, threads = memory()
latencies, fresh_failed = [], 0
for _ in range(20):
    try:
        latencies.append(fresh())
    except OSError:
        fresh_failed += 1
held = 0
for s in socks:
    try:
        s.recv(1)  # b"": the server closed it
    except BlockingIOError:
        held += 1  # open, nothing to read
    except OSError:
        pass
print(f"{rss / 1024:.1f} MB, {threads} threads, {ok} answered, {held} held, opened in {opened:.2f} s, "
      f"fresh request max {max(latencies, default=-1):.2f} ms ({fresh_failed} failed)")
for s in socks:
    s.close()
