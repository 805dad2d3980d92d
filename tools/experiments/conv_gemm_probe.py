#!/usr/bin/env python3
"""Issue 17 lever, measured outside the editor: the forward convolutions of the fused course-size edit step
(generator in its sub-pixel form, classifier) at batch 64, as oneDNN conv2d vs a naive im2col (F.unfold) plus
one GEMM per layer through OpenBLAS (its FLOPs count the sub-pixel weights' zero taps). Random weights, median of 9.

    env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/experiments/conv_gemm_probe.py THREADS
"""
import torch, time, torch.nn.functional as F, sys
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
N = 64
# (name, Cin, Cout_eff, H, k, stride, pad)
shapes = [("G1 subpixel", 512, 1024, 3, 2, 1, 1), ("G2 subpixel", 256, 512, 7, 2, 1, 1), ("G3 subpixel", 128, 256, 15, 2, 1, 1),
          ("G4 subpixel", 64, 12, 31, 2, 1, 1), ("C1", 3, 64, 64, 4, 2, 0), ("C2", 64, 128, 31, 4, 2, 0), ("C3", 128, 256, 14, 4, 3, 0),
          ("C4", 256, 40, 4, 4, 2, 0)]
def med(f, r=9):
    for _ in range(2): f()
    t = []
    for _ in range(r):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return sorted(t)[r // 2] * 1000
tot_c = tot_g = 0
with torch.no_grad():
    for name, cin, cout, H, k, s, p in shapes:
        x = torch.randn(N, cin, H, H); w = torch.randn(cout, cin, k, k); b = torch.randn(cout)
        Ho = (H + 2 * p - k) // s + 1
        def conv(): return F.conv2d(x, w, b, s, p)
        wm = w.reshape(cout, -1).t().contiguous()
        def gemm():
            cols = F.unfold(x, k, padding=p, stride=s)            # (N, cin k k, L)
            y = torch.addmm(b, cols.transpose(1, 2).reshape(-1, cin * k * k), wm)  # (N L, cout)
            return y.view(N, Ho * Ho, cout).permute(0, 2, 1).reshape(N, cout, Ho, Ho)
        assert torch.allclose(conv(), gemm(), atol=1e-2, rtol=1e-3)
        tc, tg = med(conv), med(gemm)
        tot_c += tc; tot_g += tg
        fl = 2 * N * cout * cin * k * k * Ho * Ho / 1e9
        print(f"{name:12s} conv2d {tc:7.3f} ms ({fl / tc * 1e3:6.1f} GFLOP/s) | unfold+GEMM {tg:7.3f} ms ({fl / tg * 1e3:6.1f} GFLOP/s)")
print(f"total forward: conv2d {tot_c:.2f} ms, unfold+GEMM {tot_g:.2f} ms (batch {N}; per image-step x2 for the input gradient)")
