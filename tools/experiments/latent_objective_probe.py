#!/usr/bin/python3
"""Probes variants of the `latent` method's objective on the bundled model, judged by the auditor.

The C++ `latent` method minimises, per latent, with Adam (300 steps of 0.05)
    10 relu(strength - s f_t(z))^2 + keep * hold + l2 ||z - z0||^2,
    hold = sum_k w_k (f_k(z) - f_k(z0))^2          ("logit", the shipped objective)
with f the bundle's latent classifier (its members' mean) and w the correlation keep mask. This script re-implements
it in Python (Debian's torch 1.13) so that other hold terms and weights can be compared on the
same latents before anything is built in C++:
    p2:  sum_k w_k (sigmoid f_k(z) - sigmoid f_k(z0))^2     (hold probabilities, as drift measures)
    p1:  sum_k w_k |sigmoid f_k(z) - sigmoid f_k(z0)|
and, optionally (--restore), a second phase that pulls the editing ensemble's kept logits back
toward their start by Adam on the image classifiers (target held by a hinge).

    /usr/bin/python3 tools/experiments/latent_objective_probe.py --attributes Smiling,Male --latents 64 \
        --configs logit:12:1:0.3,logit:12:3:0.3,p2:12:100:0.3

A config is HOLD:STRENGTH:KEEP:L2. Latents are `latentedit evaluate`'s (seed 0), each attribute
edited in the direction(s) the auditor allows, entries with fewer than 8 latents skipped; the
metrics are evaluate's (success, drift, masked drift, fooled, |dz|), unweighted means over entries.
"""
import argparse, json, os, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from make_fixtures import Generator, Classifier  # noqa: E402  the course's architectures
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402



def read_safetensors(path):
    return {k: torch.from_numpy(v.copy()) for k, v in safetensors_np.read(path).items()}


class Bundle:
    def __init__(self, d):
        mj = json.load(open(os.path.join(d, "model.json")))
        self.attributes = mj["attributes"]

        def net(cls, e, **kw):
            m = cls(hidden_dim=e["hidden_dim"], **kw)
            m.load_state_dict(read_safetensors(os.path.join(d, e["weights"])))
            return m.eval().requires_grad_(False)

        self.G = net(Generator, mj["generator"], z_dim=64)
        self.members = [net(Classifier, e, n_classes=40) for e in mj["classifier"]["members"]]
        self.auditor = net(Classifier, mj["auditor"], n_classes=40)
        dirs = read_safetensors(os.path.join(d, mj["directions"]["weights"]))
        self.corr = dirs["correlation"].float()
        # The latent classifier's members: latent_classifier.{0,2,..}, latent_classifier_1.{0,2,..}, ...
        self.members_F = []
        while True:
            name = "latent_classifier" + (f"_{len(self.members_F)}" if self.members_F else "")
            layers = [(dirs[f"{name}.{i}.weight"], dirs[f"{name}.{i}.bias"]) for i in range(0, 64, 2) if f"{name}.{i}.weight" in dirs]
            if not layers:
                break
            self.members_F.append(layers)

    def C(self, x):
        return sum(m(x) for m in self.members) / len(self.members)

    def F(self, z):
        """The latent classifier's logits: the mean of its members'."""
        out = 0
        for layers in self.members_F:
            h = z
            for i, (w, b) in enumerate(layers):
                h = torch.nn.functional.linear(h, w, b)
                if i + 1 < len(layers):
                    h = torch.nn.functional.silu(h)
            out = out + h
        return out / len(self.members_F)


def latent_move(B, z0, t, s, keep, w, hold, strength, lam, l2):
    with torch.no_grad():
        f0 = B.F(z0)[:, keep]
        p0 = torch.sigmoid(f0)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)
    for _ in range(300):
        f = B.F(z)
        fk = f[:, keep]
        if hold == "logit":
            h = ((fk - f0) * w).pow(2).sum()
        elif hold == "p2":
            h = ((torch.sigmoid(fk) - p0) * w).pow(2).sum()
        elif hold == "p1":
            h = ((torch.sigmoid(fk) - p0).abs() * w).sum()
        else:
            sys.exit(f"unknown hold term {hold!r}: use logit, p2 or p1")
        loss = 10 * torch.relu(strength - s * f[:, t]).pow(2).sum() + lam * h + l2 * (z - z0).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return z.detach()


def restore(B, z0, z1, t, s, keep, w, steps, lr=0.02):
    with torch.no_grad():
        c0 = B.C(B.G(z0))[:, keep]
        ct1 = s * B.C(B.G(z1))[:, t]
    z = z1.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        c = B.C(B.G(z))
        loss = ((c[:, keep] - c0) * w).pow(2).sum() + 10 * torch.relu(ct1 - s * c[:, t]).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return z.detach()


def judge(B, z0, z1, t, s, aud0, keep, w):
    with torch.no_grad():
        x1 = B.G(z1)
        a1 = torch.sigmoid(B.auditor(x1))
        c1 = torch.sigmoid(B.C(x1))[:, t]
    ok = a1[:, t] > 0.5 if s > 0 else a1[:, t] < 0.5
    done = c1 > 0.5 if s > 0 else c1 < 0.5
    d = (a1[:, keep] - aud0[:, keep]).abs()
    return {"success": ok.float().mean().item(), "drift": d.mean(1).mean().item(), "masked": (d * w).mean(1).mean().item(),
            "fooled": (done & ~ok).float().mean().item(), "dz": (z1 - z0).norm(dim=1).mean().item()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--model", default=os.path.join(here, "..", "..", "pretrained", "faces64"))
    ap.add_argument("--attributes", default="Smiling,Male,Blond_Hair,Eyeglasses,Young,Bangs,Black_Hair,Heavy_Makeup")
    ap.add_argument("--latents", type=int, default=64)
    ap.add_argument("--configs", default="logit:12:1:0.3", help="HOLD:STRENGTH:KEEP:L2,... (HOLD: logit, p2, p1)")
    ap.add_argument("--restore", type=int, default=0, help="also run this many image-space restore steps after each config")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    B = Bundle(a.model)
    z_all = torch.randn(a.latents, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        aud0_all = torch.sigmoid(B.auditor(B.G(z_all)))
    configs = [c.split(":") for c in a.configs.split(",")]
    rows = {}
    for name in a.attributes.split(","):
        if name not in B.attributes:
            sys.exit(f"unknown attribute {name!r}; see `latentedit attributes`")
        t = B.attributes.index(name)
        keep = [k for k in range(len(B.attributes)) if k != t]
        w = (1 - B.corr[t].abs())[keep]
        for s in (1, -1):
            sel = aud0_all[:, t] < 0.5 if s > 0 else aud0_all[:, t] >= 0.5
            if sel.sum() < 8:
                continue
            z0, aud0 = z_all[sel], aud0_all[sel]
            for c in configs:
                z1 = latent_move(B, z0, t, s, keep, w, c[0], *map(float, c[1:]))
                rows.setdefault(":".join(c), []).append(judge(B, z0, z1, t, s, aud0, keep, w))
                if a.restore:
                    z2 = restore(B, z0, z1, t, s, keep, w, a.restore)
                    rows.setdefault(":".join(c) + f"+restore{a.restore}", []).append(judge(B, z0, z2, t, s, aud0, keep, w))
        print(name, file=sys.stderr)
    for k, v in rows.items():
        m = {x: sum(d[x] for d in v) / len(v) for x in v[0]}
        print(f"{k:24s} entries {len(v):3d} success {m['success'] * 100:5.1f}% drift {m['drift']:.3f} "
              f"masked {m['masked']:.3f} fooled {m['fooled'] * 100:4.1f}% |dz| {m['dz']:.2f}")


if __name__ == "__main__":
    main()
