#!/usr/bin/python3
"""Issue 17's TorchScript levers, measured outside the editor: the forward + input-gradient of the
course-size networks (generator then classifier, batch N, the gradient of one logit with respect to
z) eager with frozen parameters (the tuned Python loop's step), scripted + torch.jit.freeze, and
torch.jit.optimize_for_inference (oneDNN layouts, conv/BN folding) — and whether the input gradient
still works and matches. Alternated runs, median of 7.

    env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/experiments/jit_probe.py THREADS

And for latentedit itself, which runs TorchScript files as given (`--generator F.pt --classifier
F.pt`): `jit_probe.py export OUT_DIR` writes course-size networks (random weights, seed 0) as
state_dicts (gen.pth, cls.pth), which latentedit runs as its fused networks, as scripted TorchScript
(gen_script.pt, cls_script.pt) and as scripted + frozen (gen_frozen.pt, cls_frozen.pt), for
`latentedit edit` to time the three forms of the same weights.
"""
import os, statistics, sys, time
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from make_fixtures import Generator, Classifier

if len(sys.argv) == 3 and sys.argv[1] == "export":
    torch.manual_seed(0)
    os.makedirs(sys.argv[2], exist_ok=True)
    for m, name in ((Generator(z_dim=64, hidden_dim=64).eval(), "gen"), (Classifier(n_classes=40, hidden_dim=64).eval(), "cls")):
        for p in m.parameters():
            p.requires_grad_(False)
        torch.save(m.state_dict(), os.path.join(sys.argv[2], name + ".pth"))
        torch.jit.script(m).save(os.path.join(sys.argv[2], name + "_script.pt"))
        torch.jit.freeze(torch.jit.script(m)).save(os.path.join(sys.argv[2], name + "_frozen.pt"))
    sys.exit(0)

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)


class Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gen = Generator(z_dim=64, hidden_dim=64)
        self.cls = Classifier(n_classes=40, hidden_dim=64)

    def forward(self, z):
        return self.cls(self.gen(z))


eager = Pair().eval()
for p in eager.parameters():
    p.requires_grad_(False)
variants = {"eager": eager}
variants["jit.freeze"] = torch.jit.freeze(torch.jit.script(eager))
try:
    variants["optimize_for_inference"] = torch.jit.optimize_for_inference(torch.jit.script(eager))
except Exception as e:  # noqa: BLE001
    print("optimize_for_inference failed:", str(e).splitlines()[0])


def step(m, z):
    z = z.detach().requires_grad_()
    (g,) = torch.autograd.grad(m(z)[:, 31].sum(), z)
    return g


for n in (64, 1):
    z = torch.randn(n, 64)
    ref = step(eager, z)
    usable = {}
    for k, m in variants.items():
        try:
            for _ in range(3):  # the profiling executor specialises on its first runs
                g = step(m, z)
            cos = torch.nn.functional.cosine_similarity(g, ref).min().item()
            usable[k] = m
            print(f"batch {n}: {k}: input gradient works, min cosine to eager {cos:.6f}, max |diff| {(g - ref).abs().max().item():.2e}")
        except Exception as e:  # noqa: BLE001
            print(f"batch {n}: {k}: input gradient FAILS: {str(e).splitlines()[0][:160]}")
    t = {k: [] for k in usable}
    for _ in range(7):
        for k, m in usable.items():
            t0 = time.perf_counter()
            step(m, z)
            t[k].append((time.perf_counter() - t0) * 1000 / n)
    print(f"batch {n}: " + ", ".join(f"{k} {statistics.median(v):.2f} ms/image-step ({min(v):.2f}-{max(v):.2f})" for k, v in t.items()))
