"""A safetensors file as numpy arrays (F32/F64/I64), for the experiment scripts that need no torch:
    from safetensors_np import read; tensors = read("pretrained/faces64/directions.safetensors")"""
import json
import struct

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}


def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
    return out
