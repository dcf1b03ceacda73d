# Oracle: how well could motion of 1-px granularity predict z_t, vs zero / ±1 latent position?
import sys, os, subprocess, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__))); from y4m import *
clip, weights, R, step = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
nfr = int(sys.argv[5]) if len(sys.argv)>5 else None
hdr, fr = read_y4m(clip, nfr)
lat=lambda frames, tag: latents(hdr, frames, weights, tag)
z = lat(fr,'orig')
prev = fr[:-1]; tgt = z[1:]
N,h,w,D = tgt.shape
errs = {}
for dy in range(-R,R+1,step):
    for dx in range(-R,R+1,step):
        zs = lat(shift(prev,dx,dy),'s')
        errs[(dx,dy)] = ((tgt-zs)**2).sum(-1)
# latent-domain integer shifts of the (unquantized) previous latent
zp = z[:-1]
def lshift(a,dx,dy):
    ys=np.clip(np.arange(h)-dy,0,h-1); xs=np.clip(np.arange(w)-dx,0,w-1)
    return a[:,ys][:,:,xs]
lat_errs = {}
for (dx,dy) in [(0,0),(1,0),(-1,0),(0,1),(0,-1)]:
    lat_errs[(dx,dy)] = ((tgt-lshift(zp,dx,dy))**2).sum(-1)
E0 = lat_errs[(0,0)]
Eint = np.min(np.stack(list(lat_errs.values())),0)
keys=list(errs.keys())
A=np.stack([errs[k] for k in keys])
def best(maxr):
    sel=[i for i,k in enumerate(keys) if max(abs(k[0]),abs(k[1]))<=maxr]
    return A[sel].min(0)
energy=(tgt**2).sum(-1).mean()
print(f'{clip}: {N} delta frames, {h}x{w} positions; mean |z|^2 {energy:.4f}')
def rep(name,E):
    m=E.mean()
    print(f'{name:34s} mean err {m:.5f} PSNR~ {10*np.log10(192/m):.2f} dB; median {np.median(E):.5f}; p90 {np.percentile(E,90):.4f}')
rep('zero motion',E0)
rep('latent ±1 position (8 px)',Eint)
for r in sorted(set([step, 2*step, 4, R])):
    if r<=R: rep(f'pixel shifts |d|<={r} step {step}',best(r))
rep('pixel (all) + latent ±1',np.minimum(best(R),Eint))
