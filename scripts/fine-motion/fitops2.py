# Separable latent motion operators: H_dx (horizontal taps) and V_dy (vertical taps).
import sys, os, subprocess, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__))); from y4m import *
weights=sys.argv[1]; R=int(sys.argv[2]); out=sys.argv[3]; taps=sys.argv[4]  # taps: '3' (p-1,p,p+1) or '2' (sign-dependent pair)
os.makedirs('/tmp/mc',exist_ok=True); lab=os.path.expanduser('~/.cache/vqcodec/target/release/vqcodec-lab')
rng=np.random.default_rng(0)
man=['data/'+l.strip() for l in open('data/manifest-train.txt')]
vids=[m for m in man if 'photo_' not in os.path.basename(m)]
C=192; crops=[]
for m in vids:
    with open(m,'rb') as f: line=f.readline().decode()
    toks=line.split(); w=int([t for t in toks if t[0]=='W'][0][1:]); h=int([t for t in toks if t[0]=='H'][0][1:])
    if w<C+16 or h<C+16: continue
    hdr,fr=read_y4m(m, 48)
    for i in rng.choice(len(fr), min(4,len(fr)), replace=False):
        y=rng.integers(8,h-C-8); x=rng.integers(8,w-C-8)
        crops.append(fr[i][:, y-8:y+C+8, x-8:x+C+8])
    hdr0=' '.join([t if t[0] not in 'WH' else (t[0]+str(C)) for t in line.split()])
crops=np.stack(crops)
def lat(frames, tag):
    p=f'/tmp/mc/{tag}.y4m'; write_y4m(p,hdr0,frames)
    subprocess.run([lab,'latents',p,'--weights',weights,'-o',f'/tmp/mc/lat-{tag}'],check=True,capture_output=True)
    os.remove(p); return np.load(f'/tmp/mc/lat-{tag}/latents.npy')
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
