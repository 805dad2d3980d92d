#!/usr/bin/env python3
"""Issue 40's comparison: where a discovered direction v matches an attribute's boundary normal n
(|cos| >= 0.7), move the same latents the same distance along each (latentedit edit --direction
METHOD#K:S and --direction boundary#ATTRIBUTE:S, both unit vectors, S in z units, v's sign chosen
to point the way n does) and judge both with the auditor:
  success  among the latents the auditor puts on the other side of 0.5 before, the share it puts
           past 0.5 in the moved direction after (for the boundary's attribute c)
  dp_c     the mean change of the auditor's p for c
  drift    the mean |change| of the auditor's p over the other 39 attributes, and over the attributes
           neither c nor named by the discovered direction (both moves change those by design)
Both signs (+S adds c, -S removes it). Usage:
  /usr/bin/python3 tools/experiments/discovered_vs_boundary.py BINARY BUNDLE [--count 64] [--seed 1] [--strength 3]
(numpy only; writes nothing outside a temporary directory; prints a table and a JSON summary)"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402


safetensors = safetensors_np.read


def run_edit(binary, bundle, direction, count, seed, work):
    out = os.path.join(work, direction.replace("#", "_").replace(":", "_"))
    subprocess.run([binary, "edit", "--model", bundle, "--direction", direction, "--seed", str(seed), "--count", str(count),
                    "--threads", "2", "-q", "--out", out, "--json"], check=True, stdout=subprocess.DEVNULL)
    rep = json.load(open(os.path.join(out, "report.json")))
    before = np.array([l["auditor_before"] for l in rep["latents"]])
    after = np.array([l["auditor_after"] for l in rep["latents"]])
    return before, after


def judge(before, after, c, sign, others):
    start_other_side = before[:, c] < 0.5 if sign > 0 else before[:, c] > 0.5
    reached = after[:, c] > 0.5 if sign > 0 else after[:, c] < 0.5
    n = int(start_other_side.sum())
    return {"success": float(reached[start_other_side].mean()) if n else None, "eligible": n,
            "dp_c": float(sign * (after[:, c] - before[:, c]).mean()),  # towards the move (> 0: it went the way asked)
            "drift": float(np.abs(after - before)[:, [k for k in range(before.shape[1]) if k != c]].mean()),
            "drift_unnamed": float(np.abs(after - before)[:, others].mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("bundle")
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--strength", type=float, default=3.0)
    ap.add_argument("--min-cos", type=float, default=0.7)
    a = ap.parse_args()
    m = json.load(open(os.path.join(a.bundle, "model.json")))
    attrs = m["attributes"]
    disc = safetensors(os.path.join(a.bundle, m["discovered"]["weights"]))
    normals = safetensors(os.path.join(a.bundle, m["directions"]["weights"]))["normals"]
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for method in ("sefa", "ganspace"):
            if method not in m["discovered"]:
                continue
            vectors = disc[method + ".vectors"]
            for rec in m["discovered"][method]["directions"]:
                k = rec["index"]
                cos = normals @ vectors[k - 1]
                c = int(np.argmax(np.abs(cos)))
                if abs(cos[c]) < a.min_cos:
                    continue
                named = [w[1:] for w in rec["name"].split()[1:] if w[:1] in "+-" and w[1:] in attrs]
                others = [j for j in range(len(attrs)) if j != c and attrs[j] not in named]
                for sign in (+1, -1):
                    s = sign * a.strength
                    sv = s * np.sign(cos[c])
                    b1, a1 = run_edit(a.binary, a.bundle, "%s#%d:%g" % (method, k, sv), a.count, a.seed, work)
                    b2, a2 = run_edit(a.binary, a.bundle, "boundary#%s:%g" % (attrs[c], s), a.count, a.seed, work)
                    rows.append({"direction": "%s#%d" % (method, k), "name": rec["name"], "boundary": attrs[c], "cos": float(cos[c]),
                                 "sign": sign, "discovered": judge(b1, a1, c, sign, others), "boundary_move": judge(b2, a2, c, sign, others)})
                    r = rows[-1]
                    f = lambda x: "  n/a" if x is None else "%5.2f" % x
                    print("%-10s %-34s %s%-18s cos %+.2f | success %s vs %s (of %2d/%2d) | dp_c %+.2f vs %+.2f | drift %.3f vs %.3f | "
                          "drift w/o named %.3f vs %.3f" % (r["direction"], rec["name"][:34], "+" if sign > 0 else "-", attrs[c], cos[c],
                          f(r["discovered"]["success"]), f(r["boundary_move"]["success"]), r["discovered"]["eligible"],
                          r["boundary_move"]["eligible"], r["discovered"]["dp_c"], r["boundary_move"]["dp_c"], r["discovered"]["drift"],
                          r["boundary_move"]["drift"], r["discovered"]["drift_unnamed"], r["boundary_move"]["drift_unnamed"]), flush=True)
    med = lambda key, sub: float(np.median([r[key][sub] for r in rows if r[key][sub] is not None]))
    summary = {"pairs": len(rows), "strength": a.strength, "count": a.count, "seed": a.seed}
    for key in ("discovered", "boundary_move"):
        summary[key] = {sub: med(key, sub) for sub in ("success", "dp_c", "drift", "drift_unnamed")}
    print(json.dumps(summary, indent=1))
    print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
