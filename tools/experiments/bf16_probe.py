#!/usr/bin/env python3
"""BF16 lever for issue 17, measured outside the editor: the fused edit step of a course-size
network pair (generator in the sub-pixel form latentedit uses for batches > 1, classifier;
forward + input gradient) in FP32 vs BF16 (weights and activations bf16, through oneDNN), and
the FP32 transposed-convolution form. Random weights, alternated runs, median of 7.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/experiments/bf16_probe.py THREADS [channels_last]

With `channels_last` every activation and weight is in NHWC, oneDNN's native layout (no reorders).
"""
import torch, time, torch.nn.functional as F, sys, statistics
torch.set_num_threads(int(sys.argv[1])); torch.manual_seed(0); torch.set_flush_denormal(True)
h=64; z=64
CL=len(sys.argv)>2 and sys.argv[2]=='channels_last'
def fmt(t): return t.contiguous(memory_format=torch.channels_last) if CL else t
def kw(co,ci,k): return torch.randn(co,ci,k,k)*(2/(ci*k*k))**.5
W0=torch.randn(z,h*8*9)*(2/z)**.5
GT=[kw(h*8,h*4,4),kw(h*4,h*2,3),kw(h*2,h,4),kw(h,3,4)]   # transposed-conv weights (Cin,Cout,K,K)
Ks=[4,3,4,4]
G=[(kw(4*w.size(1),w.size(0),2),K) for w,K in zip(GT,Ks)]
C=[(kw(h,3,4),2),(kw(h*2,h,4),2),(kw(h*4,h*2,4),3),(kw(40,h*4,4),2)]
def run(zz, dt, transposed=False):
    N=zz.size(0)
    x=fmt(torch.relu(zz.to(dt)@W0.to(dt)).view(N,h*8,3,3))
    for i,((w,K),wt) in enumerate(zip(G,GT)):
        if transposed: x=F.conv_transpose2d(x,wt,stride=2)
        else:
            H=x.size(2); out=(H-1)*2+K
            x=F.pixel_shuffle(F.conv2d(x,fmt(w.to(dt)),padding=1),2)
            if x.size(2)!=out: x=x[:,:,:out,:out]
        x=torch.tanh(x) if i==3 else torch.relu(x)
    for i,(w,s) in enumerate(C):
        x=F.conv2d(x,fmt(w.to(dt)),stride=s)
        if i<3: x=F.leaky_relu(x,.2)
    return x.reshape(N,-1).float()
cfg={'fp32':(torch.float32,False),'bf16':(torch.bfloat16,False),'fp32-transposed':(torch.float32,True)}
for N in (64,1):
  res={k:[] for k in cfg}
  for rep in range(7):
    for k,(dt,tr) in cfg.items():
      zz=torch.randn(N,z,requires_grad=True)
      t=time.perf_counter(); y=run(zz,dt,tr); g,=torch.autograd.grad(y[:,31].sum(),zz); res[k].append((time.perf_counter()-t)/N*1000)
  med={k:statistics.median(v) for k,v in res.items()}
  print(f'batch {N}: ' + ', '.join(f'{k} {v:.2f} ms/image-step ({min(res[k]):.2f}-{max(res[k]):.2f})' for k,v in med.items()) + f'; bf16/fp32 {med["bf16"]/med["fp32"]:.2f}')
zz=torch.randn(64,z,requires_grad=True); a=run(zz,torch.float32); b=run(zz,torch.bfloat16)
ga,=torch.autograd.grad(a[:,31].sum(),zz); gb,=torch.autograd.grad(b[:,31].sum(),zz)
print(f'logit max |diff| {(a-b).abs().max().item():.4f} (max |logit| {a.abs().max().item():.2f}); input-gradient cosine min {F.cosine_similarity(ga,gb).min().item():.4f}')
