# temporal-sim + scheme D: motion candidates from linear latent operators (pixel shifts).
import os, sys, math, time, importlib.util, numpy as np
spec=importlib.util.spec_from_file_location('ts',os.path.join(os.path.dirname(os.path.abspath(__file__)),'..','temporal-sim.py')); ts=importlib.util.module_from_spec(spec); spec.loader.exec_module(ts)
from numpy import inf
def neigh(a,hw):
    h,w=hw; D=a.shape[-1]; a=a.reshape(h,w,D)
    p=np.pad(a,((1,1),(1,1),(0,0)),mode='edge')
    X=np.concatenate([p[1+dy:h+1+dy,1+dx:w+1+dx] for dy in (-1,0,1) for dx in (-1,0,1)],-1).reshape(h*w,-1)
    return np.concatenate([X,np.ones((h*w,1),np.float32)],1)
def predictions(prev,hw,ops,intshifts):
    preds=[prev]
    for (dy,dx) in intshifts: preds.append(ts.shifted(prev,hw,dy,dx))
    if ops:
        X=neigh(prev,hw)
        for W in ops: preds.append(X@W)
    return preds
def frame_d(q,z,ipath,prev,hw,lam,m,ops,intshifts):
    n,L=len(z),q.L
    preds=predictions(prev,hw,ops,intshifts); K=len(preds)
    pe=np.stack([((z-p)**2).sum(1) for p in preds])
    kstar=np.argmin(pe[1:],0)+1
    P=np.stack(preds)  # K,n,D
    mc=m['mode'].cost((0,)); shc=m['shift'].cost((0,))  # [K]
    ii,ie=ipath
    best,bestd=ts.depth_choice(q,ie,ii,0,lam,m['intra'].idx.cost(),m['intra'].stop.cost((1,)),np.full(n,mc[0]),1)
    cand=np.zeros(n,int); cands=[(0,ii,np.zeros_like(z),0,np.zeros(n,int))]
    icost,scost=m['inter_idx'].cost(),m['inter_stop'].cost((1,))
    for kk in (np.zeros(n,int),kstar):
        pred=P[kk,np.arange(n)]; res=z-pred; sb=shc[kk]
        c=(res*res).sum(1)+lam*(mc[1]+sb)
        b=c<best; best[b],bestd[b],cand[b]=c[b],0,len(cands); cands.append((0,np.zeros((n,L),int),pred,1,kk))
        for si,s in enumerate(ts.STARTS):
            idx,err=q.path(res,s)
            c,d=ts.depth_choice(q,err,idx,s,lam,icost,scost,mc[2+si]+sb,s+1)
            b=c<best; best[b],bestd[b],cand[b]=c[b],d[b],len(cands); cands.append((s,idx,pred,2+si,kk))
    fidx,base=np.full((n,L),-1),np.zeros_like(z)
    mode,shift,first=np.zeros(n,int),np.zeros(n,int),np.ones(n,int)
    for j,(s,idx,b,md,kk) in enumerate(cands):
        sel=cand==j
        fidx[sel]=ts.full(idx[sel],s,bestd[sel],L); base[sel],mode[sel],shift[sel],first[sel]=b[sel],md,kk[sel],s+1
    dec=q.decode(fidx,base); intra=mode==0; inter=mode>=2; bits=0.0
    for sel,mm in ((intra,m['intra']),(inter,None)):
        ci,cs=ts.level_counts(q,hw,fidx,bestd,first,sel)
        bits+= (m['inter_idx'].add(ci)+m['inter_stop'].add(cs)) if mm is None else (mm.idx.add(ci)+mm.stop.add(cs))
    cl,ca=ts.neighbours(mode,hw,-1); ctx=(cl==1).astype(int)+(ca==1)+3*((cl==0)|(ca==0))
    bits+=m['mode'].add(ts.tally((6,),len(ts.MODES),(ctx,),mode,np.ones(n,bool)))
    bits+=m['shift'].add(ts.tally((1,),K,(np.zeros(n,int),),shift,~intra))
    return dec,bits,{'shifted':float((shift>0).mean()),'copy':float((mode==1).mean()),'intra':float(intra.mean())}
def run(z,q,lam,ipaths,hw,variants):
    T=len(z)
    kdec,_,_,kb=ts.intra_frame(q,z[0],ipaths[0],lam,ts.IntraModels(q),hw,passes=3)
    out={}
    for name,(ops,ints) in variants.items():
        K=1+len(ints)+len(ops)
        m={'intra':ts.IntraModels(q),'inter_idx':ts.Model((q.L,),q.K),'inter_stop':ts.Model((q.L,3),2),'mode':ts.Model((6,),len(ts.MODES)),'shift':ts.Model((1,),K)}
        prev,bits,err,st=kdec,[],[],[]
        for t in range(1,T):
            prev,b,s=frame_d(q,z[t],ipaths[t],prev,hw,lam,m,ops,ints)
            bits.append(b),err.append(ts.mse(z[t],prev)),st.append(s)
        out[name]=(np.mean(bits),np.mean(err),ts.mean_stats(st))
    return out
if __name__=='__main__':
    d=sys.argv[1]; opsf=sys.argv[2]; lams=[float(x) for x in sys.argv[3].split(',')]; R=int(sys.argv[4]); nf=int(sys.argv[5]) if len(sys.argv)>5 else None
    z=np.load(d+'/latents.npy').astype(np.float32); q=ts.Quantizer(np.load(d+'/codebooks.npy'))
    if nf: z=z[:nf]
    T,h,w,D=z.shape; z=z.reshape(T,h*w,D); hw=(h,w)
    O=np.load(opsf); ops=[O[k] for k in O.files if k!='0,0' and max(map(abs,map(int,k.split(','))))<=R]
    ints=[s for s in ts.SHIFTS if s!=(0,0)]
    variants={'C':([],ints),'D':(ops,ints)}
    ipaths=[q.path(z[t],0) for t in range(T)]
    res={}
    t0=time.time()
    for lam in lams:
        o=run(z,q,lam,ipaths,hw,variants); res[lam]=o
        print(f'λ={lam:g} '+'  '.join(f"{k}: {v[0]:,.0f} bits {ts.psnr(v[1]):.2f} dB {v[2]}" for k,v in o.items()),f'({time.time()-t0:.0f}s)',flush=True)
    curves={k:[(res[l][k][0],ts.psnr(res[l][k][1])) for l in lams] for k in variants}
    for r,p in sorted(curves['C'],key=lambda x:-x[1]):
        rd=ts.interp_rate(curves['D'],p)
        print(f'PSNR~ {p:.2f}: C {r:,.0f} bits, D vs C', '–' if rd is None else f'{rd/r-1:+.1%}')
