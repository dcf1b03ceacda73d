# Fit linear latent-domain motion operators: 3x3 neighbourhood of z(x) -> z(shift(x)) at p.
import sys, os, subprocess, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__))); from y4m import *
weights=sys.argv[1]; R=int(sys.argv[2]); out=sys.argv[3]
C=192; crops,hdr0=training_crops(C)
print('crops',crops.shape, flush=True)
lat=lambda frames, tag: latents(hdr0, frames, weights, tag)
base=lat(crops[:,:,8:8+C,8:8+C],'b')
n,h,w,D=base.shape
# 3x3 neighbourhood features at interior positions
def neigh(z):
    parts=[z[:,1+dy:h-1+dy,1+dx:w-1+dx] for dy in (-1,0,1) for dx in (-1,0,1)]
    return np.concatenate(parts,-1).reshape(-1,9*D)
X=neigh(base); X1=np.concatenate([X,np.ones((len(X),1),np.float32)],1)
XtX=X1.T.astype(np.float64)@X1; 
ops={}
for dy in range(-R,R+1):
    for dx in range(-R,R+1):
        sh=crops[:,:,8-dy:8-dy+C,8-dx:8-dx+C]   # content moved by (dx,dy)
        zs=lat(sh,'s')[:,1:h-1,1:w-1].reshape(-1,D)
        A=XtX+1e-3*len(X)*np.eye(XtX.shape[0])*1e-3
        W=np.linalg.solve(A, X1.T.astype(np.float64)@zs)
        res=((X1@W-zs)**2).sum(1).mean(); e0=((base[:,1:h-1,1:w-1].reshape(-1,D)-zs)**2).sum(1).mean()
        print(f'shift {dx:+d},{dy:+d}: fit err {res:.5f} (copy err {e0:.5f})', flush=True)
        ops[f'{dx},{dy}']=W.astype(np.float32)
np.savez(out, **ops)
