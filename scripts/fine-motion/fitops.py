# Fit linear latent-domain motion operators: 3x3 neighbourhood of z(x) -> z(shift(x)) at p.
import sys, os, subprocess, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__))); from y4m import *
weights=sys.argv[1]; R=int(sys.argv[2]); out=sys.argv[3]
os.makedirs('/tmp/mc',exist_ok=True); lab=os.path.expanduser('~/.cache/vqcodec/target/release/vqcodec-lab')
rng=np.random.default_rng(0)
man=['data/'+l.strip() for l in open('data/manifest-train.txt')]
vids=[m for m in man if 'photo_' not in os.path.basename(m)]
C=192; crops=[]
hdr0=None
for m in vids:
    with open(m,'rb') as f: line=f.readline().decode()
    toks=line.split(); w=int([t for t in toks if t[0]=='W'][0][1:]); h=int([t for t in toks if t[0]=='H'][0][1:])
    if w<C+16 or h<C+16: continue
    hdr,fr=read_y4m(m, 48)
    for i in rng.choice(len(fr), min(4,len(fr)), replace=False):
        y=rng.integers(8,h-C-8); x=rng.integers(8,w-C-8)
        crops.append(fr[i][:, y-8:y+C+8, x-8:x+C+8])  # margin so shifts stay real content
    hdr0=' '.join([t if t[0] not in 'WH' else (t[0]+str(C)) for t in line.split()])
crops=np.stack(crops); print('crops',crops.shape, flush=True)
def lat(frames, tag):
    p=f'/tmp/mc/{tag}.y4m'; write_y4m(p,hdr0,frames)
    subprocess.run([lab,'latents',p,'--weights',weights,'-o',f'/tmp/mc/lat-{tag}'],check=True,capture_output=True)
    os.remove(p); return np.load(f'/tmp/mc/lat-{tag}/latents.npy')
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
