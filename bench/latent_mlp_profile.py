"""The latent method's per-step cost on the bundled shapes (issue 38): 100 Adam steps through the three
latent-classifier members (64-512-512-512-40) and the thumbnail model (64-512-512-512-48), forward and
backward, one thread, random weights of those shapes: FP32 and BF16 at 1 and 3 rows, and the four MLPs
fused into one stacked matmul per layer. Usage: /usr/bin/python3 bench/latent_mlp_profile.py"""
# per-iteration cost of the latent optimisation's MLP forward+backward, 1 thread
import time, torch, sys
torch.set_num_threads(1)
torch.manual_seed(0)
def mlp(out):
    return [torch.randn(512,64)*.1, torch.randn(512,512)*.05, torch.randn(512,512)*.05, torch.randn(out,512)*.05], [torch.zeros(512),torch.zeros(512),torch.zeros(512),torch.zeros(out)]
M=[mlp(40) for _ in range(3)]; T=mlp(48)
def run(m,z,dt):
    h=z.to(dt)
    for i,(w,b) in enumerate(zip(*m)):
        h=torch.nn.functional.linear(h,w.to(dt) if w.dtype!=dt else w,b.to(dt) if b.dtype!=dt else b)
        if i<3: h=torch.nn.functional.silu(h)
    return h.float()
def conv(m,dt): return [[w.to(dt) for w in m[0]],[b.to(dt) for b in m[1]]]
# fused: stack members
def fuse(Ms):
    W0=torch.cat([m[0][0] for m in Ms]); B0=torch.cat([m[1][0] for m in Ms])
    W1=torch.stack([m[0][1] for m in Ms]); B1=torch.stack([m[1][1] for m in Ms])
    W2=torch.stack([m[0][2] for m in Ms]); B2=torch.stack([m[1][2] for m in Ms])
    return W0,B0,W1,B1,W2,B2
for dt in [torch.float32, torch.bfloat16]:
  Mc=[conv(m,dt) for m in M]; Tc=conv(T,dt)
  for rows in [1,3]:
    z0=torch.randn(rows,64)
    z=z0.clone().requires_grad_(True)
    opt=torch.optim.Adam([z],lr=0.15)
    for rep in range(2):
      t=time.perf_counter()
      for it in range(100):
        f=sum(run(m,z,dt) for m in Mc); th=run(Tc,z,dt)
        loss=(f[:,31]-2).relu().pow(2).sum()+f[:,:5].pow(2).sum()+th.pow(2).sum()+(z-z0).pow(2).sum()
        opt.zero_grad(); loss.backward(); opt.step()
      el=time.perf_counter()-t
    print(dt, rows, "rows: %.3f s / 100 it"%el)

# fused: 3 members + thumbnail as one stacked MLP (layers 1-3 stacked, last layers separate)
allm = M + [T]
W0 = torch.cat([m[0][0] for m in allm]); B0 = torch.cat([m[1][0] for m in allm])          # (2048, 64)
W1 = torch.stack([m[0][1] for m in allm]).transpose(1, 2).contiguous(); B1 = torch.stack([m[1][1] for m in allm]).unsqueeze(1)
W2 = torch.stack([m[0][2] for m in allm]).transpose(1, 2).contiguous(); B2 = torch.stack([m[1][2] for m in allm]).unsqueeze(1)
W3 = torch.stack([m[0][3] for m in M]).transpose(1, 2).contiguous(); B3 = torch.stack([m[1][3] for m in M]).unsqueeze(1)
WT, BT = T[0][3], T[1][3]
def fused(z):
    n = z.shape[0]
    h = torch.nn.functional.silu(torch.nn.functional.linear(z, W0, B0)).view(n, 4, 512).transpose(0, 1)  # (4, n, 512)
    h = torch.nn.functional.silu(torch.baddbmm(B1, h, W1))
    h = torch.nn.functional.silu(torch.baddbmm(B2, h, W2))
    f = torch.baddbmm(B3, h[:3], W3).sum(0)
    th = torch.nn.functional.linear(h[3], WT, BT)
    return f, th
for rows in [1, 3]:
    z0 = torch.randn(rows, 64)
    f_ref = sum(run(m, z0, torch.float32) for m in M); f_new, th_new = fused(z0)
    print("fused max diff", (f_ref - f_new).abs().max().item(), (run(T, z0, torch.float32) - th_new).abs().max().item())
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.15)
    for rep in range(2):
        t = time.perf_counter()
        for it in range(100):
            f, th = fused(z)
            loss = (f[:, 31] - 2).relu().pow(2).sum() + f[:, :5].pow(2).sum() + th.pow(2).sum() + (z - z0).pow(2).sum()
            opt.zero_grad(); loss.backward(); opt.step()
        el = time.perf_counter() - t
    print("fused fp32", rows, "rows: %.3f s / 100 it" % el)
