#!/usr/bin/env python3
"""Merges `latentedit evaluate --out` reports of disjoint attribute sets (run side by side with
--attributes, one per core) into one report, as if one run had measured them all.

    tools/experiments/merge_evaluations.py OUT.json A.json B.json [...]

Each point's mean is the mean over the union of (attribute, direction) entries, exactly as
`evaluate` computes it (an unweighted mean of the entries' rates; `n` is summed). The runs must
have measured the same points (same labels and settings) and different attributes; held-out
accuracy and generated-vs-rendered figures are taken from the one report that has them.
Prints the summary table to stdout. Standard library only.
"""
import json
import os
import sys


def main(argv):
    if len(argv) < 4:
        sys.exit("usage: merge_evaluations.py OUT.json A.json B.json [...]")
    out, paths = argv[1], argv[2:]
    if os.path.exists(out):
        sys.exit(f"error: {out} exists; choose another file name")
    reports = [json.load(open(p)) for p in paths]
    first = reports[0]
    labels = [(p["label"], json.dumps(p["settings"].get("method")), p["strength"]) for p in first["points"]]
    seen = set()
    rows = []
    for path, r in zip(paths, reports):
        if r["model"] != first["model"]:
            sys.exit(f"error: {path} is of model {r['model']}, {paths[0]} of {first['model']}")
        if [(p["label"], json.dumps(p["settings"].get("method")), p["strength"]) for p in r["points"]] != labels:
            sys.exit(f"error: {path} measured other points than {paths[0]}")
        for e in r["per_attribute"]:
            key = (e["attribute"], e["direction"])
            if key in seen:
                sys.exit(f"error: {key[0]} {key[1]} is in more than one report; merge runs of disjoint --attributes")
            seen.add(key)
            rows.append(e)
    merged = dict(first)
    merged["per_attribute"] = rows
    merged["entries"] = len(rows)
    merged["seconds"] = [r["seconds"] for r in reports]
    merged["merged_from"] = [os.path.basename(p) for p in paths]
    for key in ("heldout", "generated_vs_rendered"):
        merged[key] = next((r[key] for r in reports if r.get(key)), first.get(key))
    points = []
    for i, p in enumerate(first["points"]):
        stats = [e["stats"][i] for e in rows]
        mean = {k: sum(s[k] for s in stats) / len(stats) for k in stats[0] if k != "n"}
        mean["n"] = sum(s["n"] for s in stats)
        points.append(dict(p, mean=mean))
    merged["points"] = points
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(merged, f, indent=1)
    os.replace(tmp, out)
    print(f"{'setting':<30} {'n':>6} | success drift  masked fooled pixel   |dz|")
    for p in points:
        m = p["mean"]
        print(f"{p['label']:<30} {m['n']:>6} | {100 * m['success']:6.1f}% {m['drift']:.3f}  {m['masked_drift']:.3f} "
              f"{100 * m['fooled']:5.1f}% {m['pixel_change']:.3f} {m['dz']:6.2f}")
    print(f"{len(rows)} attribute/direction entries from {len(paths)} reports")


if __name__ == "__main__":
    main(sys.argv)
