#!/usr/bin/env python3
"""latentedit from Python, as in a notebook: load the bundled model, add a smile to eight faces,
look at the numbers, save the grid and the CLI's files. Run with Debian's python3 after
`cmake --install` (or PYTHONPATH=build/python):  python3 examples/python/edit.py OUT_DIR"""
import sys

import numpy as np

import latentedit as le

out = sys.argv[1] if len(sys.argv) > 1 else "smile-python"
m = le.load()                                    # the bundled model; le.load("bundle/dir") for another
print(m, "attributes:", ", ".join(m.attributes[:5]), "...")

# Any key of a batch job / POST /edit is a keyword; unknown keys and names raise ValueError.
r = m.edit(add=["Smiling"], seed=7, count=8, progress=lambda p: None)
smiling = m.attributes.index("Smiling")
print("Smiling before:", np.round(r.probs[0, :, smiling], 2))
print("Smiling after: ", np.round(r.probs[-1, :, smiling], 2))
print("the auditor confirms", r.report["auditor_confirmed"], "of", len(r.z_after), "edits")

# numpy in and out: (N, 64, 64, 3) uint8 images, (N, z_dim) float32 latents.
print("after images", r.after.shape, r.after.dtype, "| latents", r.z_after.shape, r.z_after.dtype)
print("scores of the edited faces, re-scored:", np.round(m.score(r.after)[:, smiling], 2))

# The same files `latentedit edit --out OUT` writes (grid.png, before/after pairs, report.json).
print("wrote", out + ":", ", ".join(r.save(out)))
