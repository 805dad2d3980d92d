#!/usr/bin/python3
"""Generates the small test fixtures in tests/fixtures with Debian's torch 1.13.

Run with Debian's interpreter (the pyenv python3 has no torch):
    /usr/bin/python3 scripts/make_fixtures.py [--real ../shared/realdata]
Every file is tiny (hidden_dim 4) and the expected outputs are stored beside them as JSON.
With --real, also writes the course classifier's PyTorch logits on the 32 shared CelebA
images (tests/fixtures/real_classifier_logits.json); the images themselves are never copied.
"""
import argparse, io, json, os, pickle, zipfile
import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


# The course's C1W4 architectures, verbatim in structure and names.
class Generator(nn.Module):
    def __init__(self, z_dim=10, im_chan=3, hidden_dim=64):
        super().__init__()
        self.z_dim = z_dim
        self.gen = nn.Sequential(
            self.make_gen_block(z_dim, hidden_dim * 8),
            self.make_gen_block(hidden_dim * 8, hidden_dim * 4),
            self.make_gen_block(hidden_dim * 4, hidden_dim * 2),
            self.make_gen_block(hidden_dim * 2, hidden_dim),
            self.make_gen_block(hidden_dim, im_chan, kernel_size=4, final_layer=True),
        )

    def make_gen_block(self, input_channels, output_channels, kernel_size=3, stride=2, final_layer=False):
        if not final_layer:
            return nn.Sequential(nn.ConvTranspose2d(input_channels, output_channels, kernel_size, stride),
                                 nn.BatchNorm2d(output_channels), nn.ReLU(inplace=True))
        return nn.Sequential(nn.ConvTranspose2d(input_channels, output_channels, kernel_size, stride), nn.Tanh())

    def forward(self, noise):
        return self.gen(noise.view(len(noise), self.z_dim, 1, 1))


class Classifier(nn.Module):
    def __init__(self, im_chan=3, n_classes=2, hidden_dim=64):
        super().__init__()
        self.classifier = nn.Sequential(
            self.make_classifier_block(im_chan, hidden_dim),
            self.make_classifier_block(hidden_dim, hidden_dim * 2),
            self.make_classifier_block(hidden_dim * 2, hidden_dim * 4, stride=3),
            self.make_classifier_block(hidden_dim * 4, n_classes, final_layer=True),
        )

    def make_classifier_block(self, input_channels, output_channels, kernel_size=4, stride=2, final_layer=False):
        if not final_layer:
            return nn.Sequential(nn.Conv2d(input_channels, output_channels, kernel_size, stride),
                                 nn.BatchNorm2d(output_channels), nn.LeakyReLU(0.2, inplace=True))
        return nn.Sequential(nn.Conv2d(input_channels, output_channels, kernel_size, stride))

    def forward(self, image):
        return self.classifier(image).view(len(image), -1)


def randomize_bn(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(mod.weight.shape, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)


def flat(t):
    return [round(float(x), 7) for x in t.detach().reshape(-1).tolist()]


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def save_legacy_cuda(obj, path):
    """torch.save in the legacy format with storages tagged cuda:0, as the course files are."""
    import torch.serialization as ser
    orig = ser.location_tag
    ser.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    finally:
        ser.location_tag = orig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", default=None, help="path to ../shared/realdata")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    gen = Generator(z_dim=64, hidden_dim=4).eval()
    cls = Classifier(n_classes=40, hidden_dim=4).eval()
    with torch.no_grad():
        randomize_bn(gen, g)
        randomize_bn(cls, g)
        # Running statistics from a train-mode pass (as after training), so signals and
        # gradients are not vanishingly small in eval mode.
        for m in list(gen.modules()) + list(cls.modules()):
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        gen.train()
        x = gen(torch.randn(256, 64, generator=g))
        cls.train()
        cls(x)
        gen.eval()
        cls.eval()
    expected = {}
    torch.manual_seed(7)
    z = torch.randn(8, 64)
    expected["randn_seed7_8x64"] = flat(z)
    with torch.no_grad():
        img = gen(z[:2])
        logits = cls(img)
    expected["generator_out_stride37"] = flat(img.reshape(-1)[::37])
    expected["generator_out_sum"] = float(img.double().sum())
    expected["classifier_logits"] = flat(logits)
    gen_sd = {k: v.clone() for k, v in gen.state_dict().items()}
    cls_sd = cls.state_dict()

    # Optimizer state that rides along in the course-style checkpoint (ignored on load).
    work = Generator(z_dim=64, hidden_dim=4)
    work.load_state_dict(gen_sd)
    opt = torch.optim.Adam(work.parameters(), lr=2e-4, betas=(0.5, 0.999))
    work(torch.randn(2, 64)).mean().backward()
    opt.step()
    nested = {"gen": gen_sd, "gen_opt": opt.state_dict(), "epoch": 3,
              "meta": {"name": "tiny", "lr": 0.1, "pair": (1, 2), "none": None, "flag": True, "big": 2**40}}
    save_legacy_cuda(nested, os.path.join(OUT, "course_gen_legacy.pth"))
    torch.save({"gen": gen_sd}, os.path.join(OUT, "course_gen_zip.pth"))
    save_legacy_cuda({"classifier": cls_sd}, os.path.join(OUT, "course_cls_legacy.pth"))
    torch.save(cls_sd, os.path.join(OUT, "course_cls_zip.pth"))  # a bare state_dict
    torch.save({"x": Evil()}, os.path.join(OUT, "evil_global.pth"), _use_new_zipfile_serialization=False)
    torch.save({"x": Evil()}, os.path.join(OUT, "evil_global_zip.pth"))
    data = open(os.path.join(OUT, "course_cls_legacy.pth"), "rb").read()
    open(os.path.join(OUT, "truncated.pth"), "wb").write(data[: len(data) * 6 // 10])
    with zipfile.ZipFile(os.path.join(OUT, "no_data_pkl.pth"), "w") as zf:
        zf.writestr("archive/version", "3\n")
    with torch.no_grad():
        torch.jit.script(gen).save(os.path.join(OUT, "gen_script.pt"))
        torch.jit.script(cls).save(os.path.join(OUT, "cls_script.pt"))
    expected["torch_version"] = torch.__version__

    if args.real:
        import cv2
        root = os.path.join(args.real, "celeba_sample")
        c = Classifier(n_classes=40, hidden_dim=64)
        ck = torch.load(os.path.join(args.real, "coursera_c1w4", "pretrained_classifier.pth"), map_location="cpu")
        c.load_state_dict(ck["classifier"])
        c.eval()
        lines = open(os.path.join(root, "list_attr_celeba.txt")).read().split("\n")
        rows = [l.split() for l in lines[2:] if l.strip()]
        batch, names, labels = [], [], []
        for r in rows:
            bgr = cv2.imread(os.path.join(root, "img_align_celeba", r[0]), cv2.IMREAD_COLOR)
            h, w = bgr.shape[:2]
            nw, nh = (64, int(64 * h / w)) if w <= h else (int(64 * w / h), 64)
            bgr = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA)
            top, left = int(round((nh - 64) / 2.0)), int(round((nw - 64) / 2.0))
            rgb = bgr[top:top + 64, left:left + 64, ::-1].copy()
            t = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0 * 2.0 - 1.0
            batch.append(t)
            names.append(r[0])
            labels.append([int(v) for v in r[1:]])
        with torch.no_grad():
            lg = c(torch.stack(batch))
        acc = ((lg > 0).int() * 2 - 1 == torch.tensor(labels)).float().mean().item()
        json.dump({"images": names, "logits": [flat(x) for x in lg], "mean_accuracy": acc,
                   "torch_version": torch.__version__, "preprocessing": "cv2 INTER_AREA shorter side 64, center crop, [-1,1]"},
                  open(os.path.join(OUT, "real_classifier_logits.json"), "w"))
        print("real classifier mean accuracy", acc)

    json.dump(expected, open(os.path.join(OUT, "expected.json"), "w"))
    print("fixtures written to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
