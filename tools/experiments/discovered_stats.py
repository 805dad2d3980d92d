#!/usr/bin/env python3
"""Figures for the discovered directions of a bundle (issue 40's "Measured"): per method, how many
directions have a dominant attribute (top |delta_p| >= 2x the second), how many are named, which
change pixels without any attribute changing, and which match a boundary (|cos| >= 0.7).
Usage: /usr/bin/python3 tools/experiments/discovered_stats.py BUNDLE   (numpy only)"""
import json, os, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

safetensors = safetensors_np.read

d = sys.argv[1]
m = json.load(open(d + "/model.json"))
disc = safetensors(d + "/" + m["discovered"]["weights"])
normals = safetensors(d + "/" + m["directions"]["weights"])["normals"] if "directions" in m else None
attrs = m["attributes"]
for method in ("sefa", "ganspace"):
    if method not in m["discovered"]: continue
    rec = m["discovered"][method]
    dirs = rec["directions"]
    dominant = [x["name"] for x in dirs if x["dominant"]]
    named = [x for x in dirs if "(" not in x["name"]]
    quiet = [x for x in dirs if max(abs(v) for v in x["delta_p"].values()) < 0.10]
    print("%s: K=%d, dominant %d %s, named %d, unnamed %d; find %.4f s, measure %.1f s" % (
        method, len(dirs), len(dominant), dominant, len(named), len(dirs) - len(named), rec["seconds"]["find"], rec["seconds"]["measure"]))
    for x in quiet:
        print("   no attribute moves (max |dp| %.2f) but pixels do: %s centre %.3f border %.3f" % (
            max(abs(v) for v in x["delta_p"].values()), x["name"], x["pixel_change"]["centre"], x["pixel_change"]["border"]))
    bg = [x["name"] for x in dirs if x["pixel_change"]["border"] > x["pixel_change"]["centre"]]
    print("   border changes more than the centre (background/colour): %d %s" % (len(bg), bg))
    if normals is not None:
        v = disc[method + ".vectors"]
        cos = v @ normals.T  # (K, C), both unit
        for k in range(len(dirs)):
            c = int(np.argmax(np.abs(cos[k])))
            if abs(cos[k, c]) >= 0.7:
                print("   match: %s ~ boundary %s, cos %+.2f" % (dirs[k]["name"], attrs[c], cos[k, c]))
        best = np.abs(cos).max(1)
        print("   best |cos| with any boundary per direction: median %.2f, max %.2f" % (np.median(best), best.max()))
