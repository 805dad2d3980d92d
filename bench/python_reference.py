#!/usr/bin/python3
"""The Python reference for latentedit_bench: the C1W4 notebook's editing loop and the same
training steps as latentedit, in torch 1.13 eager mode (Debian's /usr/bin/python3).

Editing: the course's get_score and `noise + grad * step`, gradients zeroed each step, 10 steps
of 0.1, penalty 0.1, one target. Training: the course classifier (BCE-with-logits, Adam 1e-3
betas (0.5, 0.999)) and latentedit's GAN step (hinge loss, spectral-norm discriminator,
Adam 2e-4 betas (0, 0.9), EMA of G).

latentedit_bench runs this script itself (--serve) with the same weights (safetensors written by
the bench), seeds, batch sizes and thread count, alternating its own runs with these, and prints
both sides. Standalone:
  /usr/bin/python3 bench/python_reference.py --threads 2 --weights DIR [--bundle DIR] --json
"""
import argparse, json, os, statistics, struct, sys, time
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_fixtures import Generator, Classifier  # the course architectures


def load_safetensors(path):
    """A minimal safetensors reader (F32 and I64), so no extra package is needed."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        dtype = {"F32": torch.float32, "I64": torch.int64}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[a:b]), dtype=dtype).reshape(v["shape"]).clone() if b > a else torch.zeros(v["shape"], dtype=dtype)
    return out


def load_generator(path, z_dim, hidden):
    gen = Generator(z_dim=z_dim, hidden_dim=hidden)
    gen.load_state_dict(load_safetensors(path))
    return gen.eval()


def load_course_classifier(path, hidden, n_classes=40):
    cls = Classifier(n_classes=n_classes, hidden_dim=hidden)
    cls.load_state_dict(load_safetensors(path))
    return cls.eval()


def load_pair(gen_file, cls_file, z_dim, g_hidden, c_hidden, n_classes=40):
    return load_generator(gen_file, z_dim, g_hidden), load_course_classifier(cls_file, c_hidden, n_classes)


class Ensemble(torch.nn.Module):
    """A bundle's "ensemble" classifier: the mean of its members' logits, as latentedit computes it."""

    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x):
        return sum(m(x) for m in self.members) / len(self.members)


def load_classifier(bundle, entry, n_classes):
    if entry["arch"] == "ensemble":
        return Ensemble([load_classifier(bundle, e, n_classes) for e in entry["members"]]).eval()
    return load_course_classifier(os.path.join(bundle, entry["weights"]), entry["hidden_dim"], n_classes)


def get_score(current, original, target_indices, other_indices, penalty_weight):
    # The notebook's get_score, verbatim.
    other_distances = current[:, other_indices] - original[:, other_indices]
    other_class_penalty = -torch.norm(other_distances, dim=1).mean() * penalty_weight
    target_score = current[:, target_indices].mean()
    return target_score + other_class_penalty


def edit_loop(gen, cls, noise0, steps=10):
    """The notebook's loop; returns (wall seconds of the `steps` updates, the edited z)."""
    noise = noise0.clone().requires_grad_()
    target_indices = [31]
    other_indices = [i for i in range(40) if i not in target_indices]
    original = cls(gen(noise)).detach()
    t0 = time.perf_counter()
    for _ in range(steps):
        if noise.grad is not None:
            noise.grad.zero_()
        score = get_score(cls(gen(noise)), original, target_indices, other_indices, 0.1)
        score.backward()
        noise.data = noise + noise.grad * (1 / steps)
    return time.perf_counter() - t0, noise.detach()


def edit_loop_tuned(gen, cls, noise0, steps=10):
    """What a user who cares about speed writes instead: parameters frozen (prepare), the
    gradient taken for z alone with torch.autograd.grad, the unchanged original scores under
    torch.inference_mode. Same arithmetic as edit_loop; returns (wall seconds, the edited z)."""
    target_indices = [31]
    other_indices = [i for i in range(40) if i not in target_indices]
    with torch.inference_mode():
        original = cls(gen(noise0))
    original = original.clone()  # an ordinary tensor, usable beside autograd
    noise = noise0.clone()
    t0 = time.perf_counter()
    for _ in range(steps):
        z = noise.detach().requires_grad_()
        score = get_score(cls(gen(z)), original, target_indices, other_indices, 0.1)
        (g,) = torch.autograd.grad(score, z)
        noise = noise + g * (1 / steps)
    return time.perf_counter() - t0, noise


class Autocast(nn.Module):
    """`net` run under torch.autocast("cpu", bfloat16), its output back in float32: PyTorch's own way
    to run a model in BF16 on CPU. (torch 1.13 keeps conv_transpose2d, the generator's layers, in
    FP32 under autocast; a generator cast with .to(torch.bfloat16) fails in its conv_transpose2d.)"""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.net(x).float()


class CastBf16(nn.Module):
    """`net` converted to bfloat16 once (weights and activations), float32 in and out."""

    def __init__(self, net):
        super().__init__()
        self.net = net.to(torch.bfloat16)

    def forward(self, x):
        return self.net(x.to(torch.bfloat16)).float()


def prepare(loop, gen, cls):
    """The networks as each loop runs them. course: as loaded (the notebook's). tuned: copies with
    every parameter frozen. The two BF16 variants of the tuned loop a user would try on a CPU with
    native BF16: autocast (both networks under torch.autocast) and bf16cast (the classifier converted
    to bfloat16, the generator FP32, since its conv_transpose2d has no BF16 path in torch 1.13)."""
    if loop == "course":
        return gen, cls
    import copy
    g, c = copy.deepcopy(gen).eval(), copy.deepcopy(cls).eval()
    for p in list(g.parameters()) + list(c.parameters()):
        p.requires_grad_(False)
    if loop == "autocast":
        return Autocast(g), Autocast(c)
    if loop == "bf16cast":
        return g, CastBf16(c)
    return g, c


LOOPS = {"course": edit_loop, "tuned": edit_loop_tuned, "autocast": edit_loop_tuned, "bf16cast": edit_loop_tuned}


def write_png(path, img_chw):
    import cv2  # Debian's python3-opencv
    a = ((img_chw.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()[:, :, ::-1]
    if not cv2.imwrite(path, a):
        raise SystemExit("cannot write " + path)


def e2e(a):
    """The whole job a user runs as one script: load the weights, edit N latents (10 steps, +Smiling,
    the chosen loop), save a before/after PNG per latent and a grid, and a JSON report."""
    torch.set_num_threads(a.threads)
    gen, cls = load_pair(os.path.join(a.weights, "generator.safetensors"), os.path.join(a.weights, "classifier.safetensors"), 64, 64, 64)
    gen, cls = prepare(a.loop, gen, cls)
    torch.manual_seed(0)
    z0 = torch.randn(a.e2e, 64)
    noise = LOOPS[a.loop](gen, cls, z0)[1]
    with torch.no_grad():
        before, after = gen(z0), gen(noise.detach())
        p0, p1 = torch.sigmoid(cls(before))[:, 31], torch.sigmoid(cls(after))[:, 31]
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.e2e):
        write_png(os.path.join(a.out, f"latent_{i:03d}_before.png"), before[i])
        write_png(os.path.join(a.out, f"latent_{i:03d}_after.png"), after[i])
    rows = [torch.cat([before[i], after[i]], 2) for i in range(a.e2e)]
    write_png(os.path.join(a.out, "grid.png"), torch.cat(rows, 1))
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump({"latents": [{"before": p0[i].item(), "after": p1[i].item(), "z": noise[i].tolist()} for i in range(a.e2e)]}, f)


def bench_edit(gen, cls, z_dim, reps, batches=(1, 8, 64)):
    out = {}
    for n in batches:
        torch.manual_seed(0)
        z = torch.randn(n, z_dim)
        edit_loop(gen, cls, z)  # warm-up
        t = [edit_loop(gen, cls, z)[0] * 1000 / (n * 10) for _ in range(reps)]
        out[str(n)] = {"median": statistics.median(t), "min": min(t), "max": max(t)}
    return out


class SNDiscriminator(nn.Module):
    """latentedit's discriminator: convs k4 s2 p1 3->h->2h->4h->8h, LeakyReLU(0.2), k4 -> 1."""

    def __init__(self, h):
        super().__init__()
        ch = [3, h, 2 * h, 4 * h, 8 * h]
        layers = []
        for i in range(4):
            layers += [nn.utils.spectral_norm(nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1)), nn.LeakyReLU(0.2)]
        layers.append(nn.utils.spectral_norm(nn.Conv2d(8 * h, 1, 4, 1, 0)))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).view(len(x))


def step_times(step, n_steps, warmup=3):
    for _ in range(warmup):
        step()
    t = []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        step()
        t.append((time.perf_counter() - t0) * 1000)
    return {"median": statistics.median(t), "min": min(t), "max": max(t)}


def train_steps(cls_hidden, cls_batch, g_hidden, d_hidden, gan_batch, z_dim=64):
    """One classifier training step and one GAN training step, as closures over their state."""
    torch.manual_seed(0)
    images = torch.rand(1024, 3, 64, 64) * 2 - 1
    labels = (torch.rand(1024, 40) > 0.5).float()
    cls = Classifier(n_classes=40, hidden_dim=cls_hidden).train()
    opt = torch.optim.Adam(cls.parameters(), lr=1e-3, betas=(0.5, 0.999))
    crit = nn.BCEWithLogitsLoss()
    it = [0]

    def cls_step():
        i = (it[0] * cls_batch) % (1024 - cls_batch)
        it[0] += 1
        opt.zero_grad()
        loss = crit(cls(images[i:i + cls_batch]), labels[i:i + cls_batch])
        loss.backward()
        opt.step()

    gen = Generator(z_dim=z_dim, hidden_dim=g_hidden).train()
    ema = Generator(z_dim=z_dim, hidden_dim=g_hidden)
    ema.load_state_dict(gen.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    disc = SNDiscriminator(d_hidden).train()
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.0, 0.9))

    def gan_step():
        i = (it[0] * gan_batch) % (1024 - gan_batch)
        it[0] += 1
        real = images[i:i + gan_batch]
        with torch.no_grad():
            fake = gen(torch.randn(gan_batch, z_dim))
        opt_d.zero_grad()
        loss_d = torch.relu(1 - disc(real)).mean() + torch.relu(1 + disc(fake)).mean()
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        for p in disc.parameters():
            p.requires_grad_(False)
        loss_g = -disc(gen(torch.randn(gan_batch, z_dim))).mean()
        loss_g.backward()
        for p in disc.parameters():
            p.requires_grad_(True)
        opt_g.step()
        with torch.no_grad():
            for pe, pg in zip(ema.parameters(), gen.parameters()):
                pe.mul_(0.999).add_(pg, alpha=0.001)

    return {"classifier": cls_step, "gan": gan_step}


def bench_train(n_steps, *args):
    return {k: step_times(step, n_steps) for k, step in train_steps(*args).items()}


def serve(models, a):
    """Answers one JSON line per request line on stdin, so that latentedit_bench can alternate
    its own runs with these and both sides see the same machine:
      edit MODEL N [LOOP] ms per image-step of one 10-step edit of N latents (warmed up once);
                          LOOP course (the notebook's, default), tuned (edit_loop_tuned), or its
                          BF16 variants autocast and bf16cast (prepare)
      train KIND STEPS   median/min/max ms of STEPS training steps (3 warm-up steps first)"""
    warmed, steps = set(), None
    prepared = {}
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        time.sleep(0.05)  # let the bench's OpenMP workers, which spin a few ms after its run, fall asleep
        if cmd[0] == "edit":
            loop = cmd[3] if len(cmd) > 3 else "course"
            if (cmd[1], loop) not in prepared:
                g, c, z_dim = models[cmd[1]]
                prepared[(cmd[1], loop)] = prepare(loop, g, c) + (z_dim,)
            g, c, z_dim = prepared[(cmd[1], loop)]
            n = int(cmd[2])
            torch.manual_seed(0)
            z = torch.randn(n, z_dim)
            if (cmd[1], n, loop) not in warmed:
                LOOPS[loop](g, c, z)
                warmed.add((cmd[1], n, loop))
            out = LOOPS[loop](g, c, z)[0] * 1000 / (n * 10)
        elif cmd[0] == "train":
            if steps is None:
                steps = train_steps(a.cls_hidden, a.cls_batch, a.g_hidden, a.d_hidden, a.gan_batch)
            out = step_times(steps[cmd[1]], int(cmd[2]))
        else:
            out = {"error": "unknown request " + cmd[0]}
        print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--weights", help="directory with generator.safetensors and classifier.safetensors (course size)")
    ap.add_argument("--bundle", help="a latentedit bundle directory (model.json + safetensors)")
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--cls-hidden", type=int, default=64)
    ap.add_argument("--cls-batch", type=int, default=128)
    ap.add_argument("--g-hidden", type=int, default=32)
    ap.add_argument("--d-hidden", type=int, default=32)
    ap.add_argument("--gan-batch", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", action="store_true", help="answer requests on stdin (used by latentedit_bench)")
    ap.add_argument("--e2e", type=int, default=0, help="run the whole job for N latents as a user script would, then exit")
    ap.add_argument("--loop", choices=sorted(LOOPS), default="tuned", help="with --e2e: which editing loop")
    ap.add_argument("--out", default="py_edit", help="with --e2e: output directory")
    a = ap.parse_args()
    if a.e2e:
        return e2e(a)
    torch.set_num_threads(a.threads)
    models = {}
    if a.weights:
        g, c = load_pair(os.path.join(a.weights, "generator.safetensors"), os.path.join(a.weights, "classifier.safetensors"), 64, 64, 64)
        models["course"] = (g, c, 64)
    else:
        torch.manual_seed(0)
        models["course"] = (Generator(z_dim=64, hidden_dim=64).eval(), Classifier(n_classes=40, hidden_dim=64).eval(), 64)
    if a.bundle:
        m = json.load(open(os.path.join(a.bundle, "model.json")))
        g = load_generator(os.path.join(a.bundle, m["generator"]["weights"]), m["z_dim"], m["generator"]["hidden_dim"])
        models["bundle"] = (g, load_classifier(a.bundle, m["classifier"], len(m["attributes"])), m["z_dim"])
    if a.serve:
        return serve(models, a)
    res = {"threads": a.threads, "torch": torch.__version__, "edit": {}}
    for key, (g, c, z_dim) in models.items():
        res["edit"][key] = bench_edit(g, c, z_dim, a.reps)
    if a.train_steps > 0:
        res["train"] = bench_train(a.train_steps, a.cls_hidden, a.cls_batch, a.g_hidden, a.d_hidden, a.gan_batch)
    if a.json:
        print(json.dumps(res))
    else:
        for model, r in res["edit"].items():
            for n, t in r.items():
                print(f"python C1W4 loop ({model}) batch {n:>3}: {t['median']:7.2f} ms per image-step (min {t['min']:.2f}, max {t['max']:.2f})")
        for k, t in res.get("train", {}).items():
            print(f"python {k} training step: {t['median']:.1f} ms (min {t['min']:.1f}, max {t['max']:.1f})")


if __name__ == "__main__":
    main()
