#!/usr/bin/python3
"""The C1W4 notebook's editing loop in Python (torch 1.13 eager), timed like latentedit_bench.

Course-size networks (generator and classifier hidden 64, random weights), 10 steps of 0.1,
penalty 0.1, one target. Prints the median ms per image-step over --reps runs per batch size.
Run with Debian's interpreter:  /usr/bin/python3 bench/python_reference.py --threads 2
"""
import argparse, os, statistics, sys, time
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_fixtures import Generator, Classifier  # the course architectures


def get_score(current, original, target_indices, other_indices, penalty_weight):
    # The notebook's get_score, verbatim.
    other_distances = current[:, other_indices] - original[:, other_indices]
    other_class_penalty = -torch.norm(other_distances, dim=1).mean() * penalty_weight
    target_score = current[:, target_indices].mean()
    return target_score + other_class_penalty


def run(gen, cls, n, steps=10):
    noise = torch.randn(n, 64).requires_grad_()
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
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gen, cls = Generator(z_dim=64, hidden_dim=64).eval(), Classifier(n_classes=40, hidden_dim=64).eval()
    print("threads:", a.threads, "torch", torch.__version__)
    for n in (1, 8, 64):
        run(gen, cls, n)
        t = statistics.median(run(gen, cls, n) for _ in range(a.reps))
        print(f"python C1W4 loop (hidden 64/64) batch {n:3d}: {t * 1000 / (n * 10):7.2f} ms per image-step "
              f"(median of {a.reps}; {t * 1000:.1f} ms per edit)")


if __name__ == "__main__":
    main()
