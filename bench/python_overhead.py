#!/usr/bin/env python3
"""What `import latentedit` adds to a call (issue 42): the wall time of m.edit() from Python
against the library's own time for the same edit in the same call (EditResult.report's
timings.edit_s, measured inside edit()), and against `latentedit edit` (the CLI, C++) on the same
edit and threads (its report's timings.edit_s); plus the time of `import latentedit` and
`le.load()`. A 64 x 10 course-update edit (gradient, no EOT) and the default edit, median of REPS.
Usage: PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py [BUILD_DIR] [THREADS] [REPS]"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
here = os.path.dirname(os.path.abspath(__file__))
bundle = os.path.join(here, "..", "pretrained", "faces64")

t0 = time.perf_counter()
import latentedit as le  # noqa: E402
t1 = time.perf_counter()
m = le.load(bundle)
t2 = time.perf_counter()
print(f"import latentedit {t1 - t0:.3f} s, le.load() {t2 - t1:.3f} s")
le.set_threads(threads)

cases = {
    "course update 64 x 10": dict(method="gradient", eot=0, step_size=0.1, keep_mask="uniform", steps=10),
    "default 8 latents": dict(),
}
for name, kw in cases.items():
    count = 64 if "64" in name else 8
    walls, inside, cli = [], [], []
    for _ in range(reps):
        a = time.perf_counter()
        r = m.edit(add=["Smiling"], seed=7, count=count, **kw)
        b = time.perf_counter()
        walls.append(b - a)
        inside.append(r.report["timings"]["edit_s"])
        with tempfile.TemporaryDirectory() as d:
            args = [os.path.join(build, "latentedit"), "edit", "--add", "Smiling", "--seed", "7", "--count", str(count), "-q",
                    "--threads", str(threads), "--model", bundle, "--out", os.path.join(d, "e")]
            for k, v in kw.items():
                args += ["--" + k.replace("_", "-"), str(v)]
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
            cli.append(json.load(open(os.path.join(d, "e", "report.json")))["timings"]["edit_s"])
    w, i, c = statistics.median(walls), statistics.median(inside), statistics.median(cli)
    print(f"{name}: Python call {w:.3f} s, the library inside it {i:.3f} s (+{100 * (w / i - 1):.1f} %), "
          f"the CLI's edit (C++) {c:.3f} s (Python call / CLI {w / c:.3f}); threads {threads}, median of {reps}")
