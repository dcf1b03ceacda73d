# Separable latent motion operators: H_dx (horizontal taps) and V_dy (vertical taps).
import sys, os, subprocess, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__))); from y4m import *
weights=sys.argv[1]; R=int(sys.argv[2]); out=sys.argv[3]; taps=sys.argv[4]  # taps: '3' (p-1,p,p+1) or '2' (sign-dependent pair)
C=192; crops,hdr0=training_crops(C)
lat=lambda frames, tag: latents(hdr0, frames, weights, tag)
base=lat(crops[:,:,8:8+C,8:8+C],'b'); n,h,w,D=base.shape
def feats(z,axis,sign):
    # z [n,h,w,D]; neighbours along axis (2: x, 1: y) at interior positions
    def sh(o):
        return z[:,1+o:h-1+o,1:w-1] if axis==1 else z[:,1:h-1,1+o:w-1+o]
    offs=(-1,0,1) if taps=='3' else ((-1,0) if sign>0 else (0,1))
    X=np.concatenate([sh(o) for o in offs],-1).reshape(-1,len(offs)*D)
    return np.concatenate([X,np.ones((len(X),1),np.float32)],1)
ops={}
for axis,name in ((2,'H'),(1,'V')):
    for d in range(-R,R+1):
        if d==0: continue
        dx,dy=(d,0) if axis==2 else (0,d)
        X=feats(base,axis,d)
        zs=lat(crops[:,:,8-dy:8-dy+C,8-dx:8-dx+C],'s')[:,1:h-1,1:w-1].reshape(-1,D)
        A=X.T.astype(np.float64)@X; A+=1e-6*len(X)*np.eye(len(A))
        W=np.linalg.solve(A,X.T.astype(np.float64)@zs)
        print(name,d,'fit',((X@W-zs)**2).sum(1).mean(),flush=True)
        ops[f'{name}{d}']=W.astype(np.float32)
np.savez(out,**ops)
