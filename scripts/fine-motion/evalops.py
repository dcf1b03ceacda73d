import sys, numpy as np
z=np.load(sys.argv[1]+'/latents.npy'); ops=np.load(sys.argv[2]); R=int(sys.argv[3])
n,h,w,D=z.shape
def neigh(a):
    p=np.pad(a,((0,0),(1,1),(1,1),(0,0)),mode='edge')
    parts=[p[:,1+dy:h+1+dy,1+dx:w+1+dx] for dy in (-1,0,1) for dx in (-1,0,1)]
    X=np.concatenate(parts,-1); return np.concatenate([X,np.ones(X.shape[:-1]+(1,),np.float32)],-1)
X=neigh(z[:-1]); tgt=z[1:]
E={}
for k in ops.files:
    dx,dy=map(int,k.split(','))
    if max(abs(dx),abs(dy))>R: continue
    E[(dx,dy)]=((X@ops[k]-tgt)**2).sum(-1)
E0=((z[:-1]-tgt)**2).sum(-1)
def rep(name,e):
    m=e.mean(); print(f'{name:30s} mean {m:.5f} PSNR~ {10*np.log10(192/m):.2f}')
rep('zero',E0)
for r in range(1,R+1):
    rep(f'ops |d|<={r}',np.min(np.stack([v for k,v in E.items() if max(map(abs,k))<=r]),0))
