#!/usr/bin/env python3
"""`serve` under load (issue 39): 32 clients posting /edit as fast as the server lets them plus 8
slow clients sending one header byte every 5 s, for SECONDS (default 60), against the real
executable on the bundled model. Holds when:
  - GET /health (polled every 0.5 s) answers within 1 s throughout;
  - every edit is 200 within --timeout (+0.5 s of client overhead), or 429 / 503 — nothing else,
    no connection error;
  - the slow clients are cut off with 408 (head_timeout), never hold the server;
  - the server's RSS after warm-up stays flat (last sample <= 1.10 x the one at a quarter of the
    run, + 16 MB), and it exits 0 on SIGTERM.
Prints the figures. Usage: under_load.py LATENTEDIT [SECONDS]   (stdlib only)
"""
import http.client, json, os, random, signal, socket, subprocess, sys, threading, time

exe = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
TIMEOUT = 10.0
srv = subprocess.Popen([exe, "serve", "--port", "0", "--threads", "1", "--timeout", str(TIMEOUT), "--max-queue", "8", "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
line = srv.stdout.readline()  # "serving on http://127.0.0.1:PORT/ ..."
port = int(line.split("127.0.0.1:")[1].split("/")[0])
def get(path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse(); body = r.read(); c.close()
    return r.status, body
for _ in range(600):
    try:
        if get("/health")[0] == 200: break
    except OSError: pass
    time.sleep(0.1)
else:
    sys.exit("the server did not become healthy")

stop = time.time() + seconds
lock = threading.Lock()
edits, health, slow, rss, errors = [], [], [], [], []

def editor(i):
    rnd = random.Random(i)
    while time.time() < stop:
        body = json.dumps({"seed": rnd.randrange(1 << 30), "count": 1, "add": ["Smiling"], "steps": 10})
        t = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT + 30)
            c.request("POST", "/edit", body, {"Content-Type": "application/json"})
            r = c.getresponse(); r.read(); c.close()
            with lock: edits.append((r.status, time.time() - t))
            if r.status != 200: time.sleep(0.2)  # Retry-After, as a polite client
        except OSError as e:
            with lock: errors.append("edit: %r" % e)
            time.sleep(0.2)

def slow_client():
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    while time.time() < stop:
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(0.5)
        got, t0 = b"", time.time()
        for b in head:
            try: s.send(bytes([b]))
            except OSError: break
            end = time.time() + 5
            while time.time() < min(end, stop + 2):
                try:
                    chunk = s.recv(4096)
                    if not chunk: break
                    got += chunk
                except socket.timeout: continue
                except OSError: break
            if got or time.time() >= stop: break
        s.close()
        if got:
            with lock: slow.append((int(got.split(b" ")[1]), time.time() - t0))

def poller():
    while time.time() < stop:
        t = time.time()
        try:
            st, _ = get("/health", timeout=5)
        except OSError as e:
            st = repr(e)
        with lock: health.append((st, time.time() - t))
        time.sleep(0.5)

def sampler():
    start = time.time()
    while time.time() < stop:
        with open("/proc/%d/status" % srv.pid) as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        rss.append((time.time() - start, kb / 1024))
        time.sleep(1)

threads = [threading.Thread(target=editor, args=(i,)) for i in range(32)] + \
          [threading.Thread(target=slow_client) for _ in range(8)] + \
          [threading.Thread(target=poller), threading.Thread(target=sampler)]
for t in threads: t.start()
for t in threads: t.join()
srv.send_signal(signal.SIGTERM)
rc = srv.wait(timeout=60)

from collections import Counter
ok = [d for s, d in edits if s == 200]
hl = sorted(d for _, d in health)
quarter = min(rss, key=lambda r: abs(r[0] - seconds / 4))[1]
print("edits: %d answered, statuses %s; 200s: median %.2f s, max %.2f s (timeout %.0f s)" % (
    len(edits), dict(Counter(s for s, _ in edits)), sorted(ok)[len(ok) // 2] if ok else 0, max(ok) if ok else 0, TIMEOUT))
print("health: %d polls, statuses %s, median %.3f s, max %.3f s" % (len(health), dict(Counter(s for s, _ in health)), hl[len(hl) // 2], hl[-1]))
print("slow clients: %d cut off, statuses %s, after %.1f s median" % (len(slow), dict(Counter(s for s, _ in slow)),
      sorted(d for _, d in slow)[len(slow) // 2] if slow else 0))
print("server RSS every 5 s (MB):", " ".join("%.0f" % r for t, r in rss[::5]))
print("server RSS: %.0f MB at %.0f s (a quarter in), %.0f MB at the end, peak %.0f MB; exit %d on SIGTERM" % (
    quarter, seconds / 4, rss[-1][1], max(r for _, r in rss), rc))
fail = []
if errors: fail.append("connection errors: %s" % errors[:3])
if any(s not in (200, 429, 503) for s, _ in edits): fail.append("an edit answered other than 200/429/503")
if not ok or len(ok) < 10: fail.append("fewer than 10 edits succeeded")
if ok and max(ok) > TIMEOUT + 0.5: fail.append("a 200 took longer than the timeout")
if any(s != 200 for s, _ in health) or hl[-1] > 1.0: fail.append("/health failed or took over 1 s")
if not slow or any(s != 408 for s, _ in slow): fail.append("slow clients were not cut off with 408")
if rss[-1][1] > 1.10 * quarter + 16: fail.append("RSS grew after warm-up")
if rc != 0: fail.append("exit %d on SIGTERM" % rc)
for f in fail: print("FAIL:", f)
sys.exit(1 if fail else 0)
