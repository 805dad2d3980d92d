#!/usr/bin/env python3
"""Drives a page in headless Chromium over the DevTools protocol (--remote-debugging-pipe: JSON
messages on fds 3/4, no websocket library needed): opens URL, waits for it to load, evaluates
SCRIPT in it (an expression whose promise resolves to a string) and prints the result; with
--screenshot, saves a PNG of the page afterwards. Exit 0 when the result starts with "pass".
Usage: cdp.py CHROMIUM URL SCRIPT.js [--screenshot OUT.png] [--timeout S]"""
import argparse, base64, json, os, subprocess, sys, tempfile, time, select


class Browser:
    def __init__(self, exe, profile):
        self.r_ours, self.w_theirs = os.pipe()  # chromium writes fd 4 -> we read
        self.r_theirs, self.w_ours = os.pipe()  # we write -> chromium reads fd 3
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000", "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank"]

        def fds():
            os.dup2(self.r_theirs, 3)
            os.dup2(self.w_theirs, 4)
        self.proc = subprocess.Popen([exe] + flags, pass_fds=(3, 4), preexec_fn=fds,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(self.r_theirs)
        os.close(self.w_theirs)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w_ours, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self.read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(method + ": " + json.dumps(m["error"]))
                return m["result"]
            self.events.append(m)

    def read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([self.r_ours], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.r_ours, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def wait_event(self, method, session, timeout):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and e.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self.read(deadline))

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chromium")
    ap.add_argument("url")
    ap.add_argument("script")
    ap.add_argument("--screenshot")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as profile:
        b = Browser(a.chromium, profile)
        try:
            target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            s = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            b.send("Page.enable", session=s)
            b.send("Page.navigate", {"url": a.url}, session=s)
            b.wait_event("Page.loadEventFired", s, a.timeout)
            r = b.send("Runtime.evaluate", {"expression": open(a.script).read(), "awaitPromise": True, "returnByValue": True},
                       session=s, timeout=a.timeout)
            if "exceptionDetails" in r:
                verdict = "fail exception: " + json.dumps(r["exceptionDetails"])[:300]
            else:
                verdict = str(r["result"].get("value"))
            if a.screenshot:
                png = b.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=s)["data"]
                open(a.screenshot, "wb").write(base64.b64decode(png))
        finally:
            b.close()
    print(verdict[:600])
    sys.exit(0 if verdict.startswith("pass") else 1)


if __name__ == "__main__":
    main()
