#!/usr/bin/env python3
"""A bundle that pairs a trial generator with the bundled editing classifiers and auditor, so that
`latentedit evaluate --generator-only --model OUT` (and the full protocol) measure the trial
generator alone. Weights are referenced by absolute path; nothing is copied.
Usage: tools/experiments/trial_bundle.py TRIAL_DIR OUT_DIR [BUNDLE=pretrained/faces64]"""
import json, os, sys

gen, out = sys.argv[1], sys.argv[2]
base = os.path.abspath(sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "..", "pretrained", "faces64"))
j = json.load(open(os.path.join(base, "model.json")))
g = json.load(open(os.path.join(gen, "model.json")))["generator"]
g["weights"] = os.path.abspath(os.path.join(gen, g["weights"]))
j["generator"] = g


def absolute(e):
    e["weights"] = os.path.join(base, e["weights"])


for role in ["classifier", "auditor"]:
    for e in j[role].get("members", [j[role]]):
        absolute(e)
j.pop("directions", None)  # fitted for the bundled generator: refit with `latentedit directions` if needed
j.pop("discovered", None)  # likewise: `latentedit directions --discover sefa` finds them again
j.pop("training", None)
os.makedirs(out, exist_ok=True)
json.dump(j, open(os.path.join(out, "model.json"), "w"), indent=1)
