#!/usr/bin/env python3
"""A hostile probe of `serve` and the file-reading commands (issue 39's classes), for the closing
note: every input is sent or run, judged, and counted (inputs, clean, defects).

  /usr/bin/python3 tools/probe/hostile.py build/latentedit [--only http|cli]

Clean means: HTTP — an answer within the case's time, a status in the case's set, never 500, an
error body that is one line of JSON with "error", and the server healthy afterwards; CLI — the
case's exit code, one line on stderr, nothing left in the output directory or beside it, within
3 GB of address space (prlimit). Classes 6 (signals, staging) and 7 (caches) are covered by the
test suite (OutputsCli, Batch, InvertCli), not here. Prints one line per defect and the counts per class. stdlib only.
"""
import base64, json, os, resource, signal, socket, struct, subprocess, sys, tempfile, threading, time, zlib

exe = os.path.abspath(sys.argv[1])
only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
counts = {}  # class -> [inputs, clean]
defects = []

def judge(cls, name, ok, why=""):
    c = counts.setdefault(cls, [0, 0])
    c[0] += 1
    if ok: c[1] += 1
    else: defects.append("%s %s: %s" % (cls, name, why)); print("DEFECT", cls, name, why, flush=True)

# ---------------------------------------------------------------- images
def png(w, h, cut=None):
    raw = b"".join(b"\x00" + bytes([(x * 7 + y) % 256 for x in range(w * 3)]) for y in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    b = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b if cut is None else b[:cut]
def png_declaring(w, h):
    b = bytearray(png(8, 8)); b[16:24] = struct.pack(">II", w, h); return bytes(b)
def jpeg_seed():
    here = os.path.dirname(os.path.abspath(__file__))
    return open(os.path.join(here, "../../tests/fuzz/corpus_image/seed.jpg"), "rb").read()
def jpeg_declaring(w, h, stray=True):
    j = bytearray(jpeg_seed()); s = j.find(b"\xff\xc0")
    j[s + 5:s + 7] = struct.pack(">H", h); j[s + 7:s + 9] = struct.pack(">H", w)
    return bytes(j[:s]) + (b"\x00" if stray else b"") + bytes(j[s:])
def tiff_declaring(w, h):
    return b"II*\x00\x08\x00\x00\x00\x02\x00" + struct.pack("<HHII", 256, 4, 1, w) + struct.pack("<HHII", 257, 4, 1, h) + b"\x00" * 68
def webp_declaring(w, h):
    return b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little") + b"\x00" * 32
BOMBS = {"jpeg400mp_stray": jpeg_declaring(20000, 20000), "jpeg400mp": jpeg_declaring(20000, 20000, False),
         "tiff100mp": tiff_declaring(10000, 10000), "webp144mp": webp_declaring(12000, 12000), "png400mp": png_declaring(20000, 20000),
         "jpeg_half": jpeg_seed()[: len(jpeg_seed()) // 2], "png_cut": png(64, 64, cut=60), "text": b"hello, not an image\n", "empty": b""}

# ---------------------------------------------------------------- HTTP
def http_cases(port):
    H = "Host: 127.0.0.1:%d\r\n" % port
    edit = json.dumps({"seed": 7, "count": 1, "add": ["Smiling"], "steps": 2}).encode()
    def req(method="POST", path="/edit", body=edit, ctype="application/json", host=H, extra="", cl=True):
        head = "%s %s HTTP/1.1\r\n%s" % (method, path, host)
        if ctype is not None and body is not None: head += "Content-Type: %s\r\n" % ctype
        if cl and body is not None: head += "Content-Length: %d\r\n" % len(body)
        return (head + extra + "\r\n").encode() + (body or b"")
    cases = []  # (class, name, bytes, allowed statuses, seconds)
    A = lambda *a: cases.append(a)
    # class 1: who may drive the server
    for h in ["evil.example", "evil.example:%d" % port, "127.0.0.1.evil.example", "localhost.evil.example", "", "127.0.0.2.nip.io", "0x7f000001"]:
        for path, m in [("/", "GET"), ("/attributes", "GET"), ("/edit", "POST")]:
            A("1-host", "%s %s Host=%r" % (m, path, h), req(m, path, edit if m == "POST" else None, host="Host: %s\r\n" % h), {403}, 5)
    for h in ["localhost:%d" % port, "LOCALHOST:%d" % port, "127.0.0.1", "[::1]:%d" % port]:
        A("1-host", "allowed Host=%r" % h, req("GET", "/health", None, host="Host: %s\r\n" % h), {200}, 5)
    for o in ["http://evil.example", "null", "https://127.0.0.1:%d" % port, "http://127.0.0.1:%d.evil.example" % port, "file://", "http://localhost:%d" % port]:
        A("1-origin", "Origin=%r" % o, req(extra="Origin: %s\r\n" % o), {403}, 5)
    A("1-origin", "same origin", req(extra="Origin: http://127.0.0.1:%d\r\n" % port), {200}, 30)
    for t in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None, "application/jsonx",
              "text/json", "application/json-patch+json", "*/*", "image/png"]:
        A("1-type", "Content-Type=%r" % t, req(ctype=t), {415}, 5)
    for t in ["application/json; charset=utf-8", "APPLICATION/JSON", "application/json ;x=y"]:
        A("1-type", "Content-Type=%r" % t, req(ctype=t), {200}, 30)
    # class 2a/3: bodies and framing
    big = b"x" * (3 << 20)
    A("2a-body", "chunked 3 MB", req(body=None, extra="Transfer-Encoding: chunked\r\n") + b"".join(b"100000\r\n" + big[:1 << 20] + b"\r\n" for _ in range(3)) + b"0\r\n\r\n", {411}, 10)
    A("2a-body", "CL over max", req(body=big), {413}, 10)
    for te in ["chunked", "gzip", "chunked, chunked", " chunked", "identity", "xchunked", "chunked\r\nTransfer-Encoding: identity"]:
        A("3-framing", "TE=%r" % te, req(body=None, extra="Transfer-Encoding: %s\r\n" % te) + b"5\r\nhello\r\n0\r\n\r\n", {411}, 10)
    A("3-framing", "CL+TE", req(extra="Transfer-Encoding: chunked\r\n"), {411}, 10)
    for cl in ["-1", "1e3", " 5", "5 ", "0x10", "99999999999999999999", "+5", "5,5", ""]:
        A("3-framing", "CL=%r" % cl, req(body=None, extra="Content-Type: application/json\r\nContent-Length: %s\r\n" % cl) + edit,
          {400, 411, 413}, 10)  # " 5" is 5 (optional whitespace, RFC 9110): 5 bytes of the JSON, invalid: 400
    A("3-framing", "two CLs", req(extra="Content-Length: 3\r\n"), {400}, 10)
    A("3-framing", "POST without CL", req(cl=False), {411}, 10)
    A("3-framing", "CL beyond the body", req(body=None, extra="Content-Type: application/json\r\nContent-Length: 100\r\n") + b"{}", {408}, 25)
    A("3-framing", "GET with a body", req("GET", "/health", b"abc", ctype=None), {400}, 10)
    A("2d-head", "20000 headers", req("GET", "/health", None, extra="X-A: b\r\n" * 20000), {431}, 10)
    A("2d-head", "one 100 KB header", req("GET", "/health", None, extra="X-A: %s\r\n" % ("b" * 100000)), {431, 400}, 10)
    A("2d-head", "path of 50 KB", req("GET", "/" + "a" * 50000, None), {431, 400, 414}, 10)
    A("3-head", "garbage request line", b"\x00\x01\x02 \xff\r\n\r\n", {400}, 10)
    A("3-head", "HTTP/0.9", b"GET /\r\n\r\n", {400}, 10)
    A("3-head", "no Host", b"GET /health HTTP/1.1\r\n\r\n", {403}, 10)
    # methods and paths
    for m in ["PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT", "FOO"]:
        known = m != "FOO"  # httplib answers a method it does not know as a malformed request
        A("3-method", m, req(m, "/edit", None), {405} if known else {400}, 10)
        A("3-method", m + " with a body", req(m, "/edit"), {405} if known else {400}, 10)
    for p in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//health", "/edit/", "/EDIT", "/health%00", "/\\..\\"]:
        A("3-path", p, req("GET", p, None), {200, 400, 403, 404}, 10)
    # class 4: bodies that are not JSON or not valid JSON
    for name, body in [("invalid UTF-8", b'{"seed": "\xff\xfe", "add": ["Smiling"]}'), ("a PNG", png(8, 8)), ("empty", b""),
                       ("100k-deep", b"[" * 100000 + b"]" * 100000), ("1e309", b'{"seed": 1e309, "add": ["Smiling"]}'),
                       ("309 digits", b'{"seed": ' + b"9" * 309 + b', "add": ["Smiling"]}'), ("NaN", b'{"seed": NaN}'),
                       ("array", b"[1,2,3]"), ("string", b'"edit"'), ("null", b"null"), 
                       ("count 1e9", b'{"seed":1,"count":1000000000,"add":["Smiling"]}'), ("steps 1e9", b'{"seed":1,"add":["Smiling"],"steps":1000000000}'),
                       ("count -1", b'{"seed":1,"count":-1,"add":["Smiling"]}'), ("unknown attribute", b'{"seed":1,"add":["Smile"]}'),
                       ("1000 attributes", json.dumps({"seed": 1, "add": ["Smiling"] * 1000}).encode()), ("unknown key", b'{"seed":1,"add":["Smiling"],"sed":2}'),
                       ("latents NaN", b'{"latents":[[NaN]],"add":["Smiling"]}'), ("latents short", b'{"latents":[[0.1,0.2]],"add":["Smiling"]}'),
                       ("latents 1e30", json.dumps({"latents": [[1e30] * 64], "add": ["Smiling"], "steps": 2}).encode()),
                       ("latents 5000 rows", json.dumps({"latents": [[0.0] * 64] * 5000, "add": ["Smiling"]}).encode()),
                       ("step_size 1e30", b'{"seed":1,"add":["Smiling"],"step_size":1e30,"steps":3,"method":"course"}'),
                       ("seed 2^64", b'{"seed":18446744073709551616,"add":["Smiling"]}'), ("seed -1", b'{"seed":-1,"add":["Smiling"]}'),
                       ("seed string", b'{"seed":"7","add":["Smiling"]}'), ("add number", b'{"seed":1,"add":5}')]:
        A("4-json", name, req(body=body), {400, 413, 422}, 30)
    A("4-json", "a UTF-8 BOM before the JSON (accepted)", req(body=b'\xef\xbb\xbf{"seed":1,"add":["Smiling"],"steps":1}'), {200}, 30)
    A("4-json", "add as one string (accepted as a list of one)", req(body=b'{"seed":1,"add":"Smiling","steps":1}'), {200}, 30)
    A("8-seed", "seed 2^64-1", req(body=b'{"seed":18446744073709551615,"add":["Smiling"],"steps":1}'), {200}, 30)
    # class 2b: images to /score
    for name, img in BOMBS.items():
        A("2b-image", "score JSON " + name, req(path="/score", body=json.dumps({"images": [base64.b64encode(img).decode()]}).encode()), {400, 413}, 20)
        A("2b-image", "score raw " + name, req(path="/score", body=img, ctype="image/jpeg" if "jpeg" in name else "image/png"), {400, 413}, 20)
    A("2b-image", "score JSON not base64", req(path="/score", body=b'{"images":["%%%"]}'), {400}, 10)
    A("2b-image", "score 1000 images", req(path="/score", body=json.dumps({"images": [base64.b64encode(png(8, 8)).decode()] * 1000}).encode()), {400, 413}, 20)
    A("2b-image", "score good", req(path="/score", body=png(64, 64), ctype="image/png"), {200}, 20)
    # pipelining
    A("3-pipeline", "3 pipelined", req("GET", "/health", None) * 3, {200}, 10)
    return cases

def send(port, data, seconds):
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(seconds)
    try: s.sendall(data)
    except OSError: pass
    got = b""; t0 = time.time()
    try:
        while time.time() - t0 < seconds:
            b = s.recv(65536)
            if not b: break
            got += b
    except OSError: pass
    s.close()
    return got

def parse(resp):
    try:
        head, _, body = resp.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), head.decode("latin-1"), body
    except Exception:
        return None, "", b""

def http_probe():
    srv = subprocess.Popen([exe, "serve", "--port", "0", "--threads", "1", "--timeout", "10", "--max-body-mb", "1", "--max-queue", "4", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(srv.stdout.readline().split("127.0.0.1:")[1].split("/")[0])
    def health(timeout=5):
        st, _, _ = parse(send(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout)); return st
    while health() != 200: time.sleep(0.2)
    for i, (cls, name, data, allowed, secs) in enumerate(http_cases(port)):
        t0 = time.time(); resp = send(port, data, secs); took = time.time() - t0
        st, head, body = parse(resp)
        why = ""
        if st is None: why = "no answer in %.0f s" % took
        elif st not in allowed: why = "status %d, expected %s: %s" % (st, sorted(allowed), body[:150])
        elif st >= 400:
            try:
                j = json.loads(body); ok = isinstance(j.get("error"), str) and "\n" not in j["error"]
            except Exception: ok = False
            if not ok: why = "error body is not one line of JSON: %r" % body[:100]
        if name == "3 pipelined" and resp.count(b"HTTP/1.1 ") != 1 or (st == 200 and b"Connection: close" not in resp and cls == "3-pipeline"):
            why = why or "pipelined: %d answers" % resp.count(b"HTTP/1.1 ")
        if health() != 200: why = why or "server unhealthy afterwards"
        judge(cls, name, not why, why)
    # class 3 availability: 24 concurrent edits with --timeout 10; 8 slow clients while /health is polled
    res = []
    def one():
        t0 = time.time(); st, _, _ = parse(send(port, ("POST /edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % 60).encode()
                                                + json.dumps({"seed": 1, "count": 4, "add": ["Smiling"], "steps": 200}).encode().ljust(60), 40))
        res.append((st, time.time() - t0))
    ts = [threading.Thread(target=one) for _ in range(24)]; [t.start() for t in ts]; [t.join() for t in ts]
    for i, (st, d) in enumerate(res):
        judge("3-availability", "concurrent edit %d" % i, st in (200, 429, 503) and d <= 11.0, "status %s after %.1f s" % (st, d))
    slow = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port)); s.send(b"GET /health HTTP/1.1\r\n"); slow.append(s)
    worst = 0
    for _ in range(20):
        t0 = time.time(); st = health(); worst = max(worst, time.time() - t0 if st == 200 else 99); time.sleep(0.5)
    judge("3-availability", "/health with 8 slow clients", worst < 1.0, "worst %.2f s" % worst)
    for s in slow: s.close()
    srv.send_signal(signal.SIGTERM); rc = srv.wait(30)
    judge("3-availability", "SIGTERM exit", rc == 0, "exit %d" % rc)
    err = srv.stderr.read()
    judge("5-stderr", "server stderr holds no crash", "terminate" not in err and "Assertion" not in err, err[-200:])

# ---------------------------------------------------------------- CLI
def cli_probe():
    d = tempfile.mkdtemp(prefix="probe-")
    def put(name, b):
        with open(os.path.join(d, name), "wb") as f: f.write(b)
        return os.path.join(d, name)
    files = {k: put(k + ".img", v) for k, v in BOMBS.items()}
    os.mkfifo(os.path.join(d, "fifo")); os.symlink("loop", os.path.join(d, "loop"))
    os.truncate(put("sparse.json", b""), 600 << 20)
    put("rows.txt", b"0 " * 64 + b"\n")
    with open(os.path.join(d, "many_rows.txt"), "w") as f:
        row = " ".join(["0.1"] * 64) + "\n"
        for _ in range(300000): f.write(row)
    os.makedirs(os.path.join(d, "tlog")); put("tlog/training_log.jsonl", b'{"step":10,"seconds":"abc","g_grad_norm":1}\n')
    os.makedirs(os.path.join(d, "tlog2")); put("tlog2/training_log.jsonl", b'{"step":10,"seconds":1,"d_loss":1e17}\n{"step":20,"seconds":2,"d_loss":1.0000000000000002e17}\n')
    put("jobs_images.json", json.dumps({"jobs": [{"id": "a", "images": [os.path.join(d, "sparse.json")], "add": ["Smiling"]}]}).encode())
    put("jobs_fifo.json", json.dumps({"jobs": [{"id": "a", "images": [os.path.join(d, "fifo")], "add": ["Smiling"]}]}).encode())
    put("jobs_seed.json", json.dumps({"jobs": [{"id": "a", "seed": 18446744073709551616, "add": ["Smiling"]}]}).encode())
    out = lambda: os.path.join(d, "out")
    cases = []
    for k, f in files.items():
        for cmd in (["score", f], ["invert", f, "--out", out()], ["edit", "--image", f, "--add", "Smiling", "--out", out()]):
            cases.append(("2b-image", " ".join(cmd[:1] + [k]), cmd, {3}))
    for k in ("fifo", "loop", "sparse.json"):
        p = os.path.join(d, k)
        for cmd in (["edit", "--latents", p, "--add", "Smiling", "--out", out()], ["score", p], ["invert", p, "--out", out()],
                    ["batch", p, "--out", out()], ["train", "report", p, "--out", os.path.join(d, "r.png")]):
            cases.append(("2c-files", " ".join(cmd[:2]) + " " + k, cmd, {2, 3}))
    cases += [("2c-files", "edit --latents /dev/zero", ["edit", "--latents", "/dev/zero", "--add", "Smiling", "--out", out()], {3}),
              ("2c-files", "edit --latents 300k rows", ["edit", "--latents", os.path.join(d, "many_rows.txt"), "--add", "Smiling", "--out", out()], {2, 3}),
              ("2c-files", "batch images sparse 600 MB", ["batch", os.path.join(d, "jobs_images.json"), "--out", out()], {2, 3, 4}),
              ("2c-files", "batch images FIFO", ["batch", os.path.join(d, "jobs_fifo.json"), "--out", out()], {2, 3, 4}),
              ("2e-report", "train report 1e17 axis", ["train", "report", os.path.join(d, "tlog2"), "--out", os.path.join(d, "r2.png")], {0}),
              ("4-errors", "train report text number", ["train", "report", os.path.join(d, "tlog"), "--out", os.path.join(d, "r.png")], {3}),
              ("4-errors", "--out ''", ["edit", "--seed", "1", "--add", "Smiling", "--out", ""], {2}),
              ("4-errors", "--out /", ["edit", "--seed", "1", "--add", "Smiling", "--out", "/"], {5}),
              ("4-errors", "train gan --lr-g 1e300", ["train", "gan", "--procedural", "64", "--steps", "2", "--lr-g", "1e300", "--out", out()], {2}),
              ("4-errors", "train classifier --lr 1e300", ["train", "classifier", "--procedural", "64", "--steps", "2", "--lr", "1e300", "--out", out()], {2}),
              ("8-seed", "job seed 2^64", ["batch", os.path.join(d, "jobs_seed.json"), "--out", out()], {3})]
    for cls, name, cmd, codes in cases:
        for junk in ("out", "r.png", "r2.png"):
            p = os.path.join(d, junk)
            if os.path.isdir(p): subprocess.run(["rm", "-rf", p])
            elif os.path.exists(p) and junk != "r2.png": os.remove(p)
        before = set(os.listdir(d))
        t0 = time.time()
        p = subprocess.run(["prlimit", "--as=%d" % (3 << 30), exe] + cmd + ["-q"], capture_output=True, text=True, timeout=120, errors="replace")
        peak = 0
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        after = set(os.listdir(d))
        why = ""
        if p.returncode not in codes: why = "exit %d, expected %s: %s" % (p.returncode, sorted(codes), p.stderr[-200:])
        elif p.returncode != 0 and len(lines) != 1: why = "%d lines on stderr" % len(lines)
        elif p.returncode != 0 and (after - before - {"r2.png"}): why = "left %s" % sorted(after - before)
        elif any(".partial-" in n for n in after): why = "left a staging directory"
        judge(cls, name, not why, why)
    subprocess.run(["rm", "-rf", d])

if only in (None, "http"): http_probe()
if only in (None, "cli"): cli_probe()
total = sum(c[0] for c in counts.values()); clean = sum(c[1] for c in counts.values())
for k in sorted(counts): print("%-16s %4d inputs, %4d clean, %3d defects" % (k, counts[k][0], counts[k][1], counts[k][0] - counts[k][1]))
print("TOTAL %d inputs, %d clean, %d defects" % (total, clean, total - clean))
sys.exit(1 if defects else 0)
