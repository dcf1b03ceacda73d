import os, sys, time, numpy as np
sys.path.insert(0,os.path.dirname(os.path.abspath(__file__))); import sim2; ts=sim2.ts
def apply1d(z,hw,W,axis,taps,sign):
    h,w=hw; D=z.shape[-1]; g=z.reshape(h,w,D); p=np.pad(g,((1,1),(1,1),(0,0)),mode='edge')
    offs=(-1,0,1) if taps==3 else ((-1,0) if sign>0 else (0,1))
    sh=lambda o:(p[1+o:h+1+o,1:w+1] if axis==1 else p[1:h+1,1+o:w+1+o])
    X=np.concatenate([sh(o) for o in offs]+[np.ones((h,w,1),np.float32)],-1).reshape(h*w,-1)
    return X@W
def make(kind,R,ops):
    fs=[]
    for dy in range(-R,R+1):
        for dx in range(-R,R+1):
            if (dx,dy)==(0,0): continue
            if kind=='full':
                W=ops[f'{dx},{dy}']; fs.append(lambda prev,hw,W=W: sim2.neigh(prev,hw)@W); continue
            taps=int(kind[-1])
            def f(prev,hw,dx=dx,dy=dy,taps=taps):
                z=prev
                if dx: z=apply1d(z,hw,ops[f'H{dx}'],2,taps,dx)
                if dy: z=apply1d(z,hw,ops[f'V{dy}'],1,taps,dy)
                return z
            fs.append(f)
    return fs
def predictions(prev,hw,ops,ints):
    return [prev]+[ts.shifted(prev,hw,dy,dx) for (dy,dx) in ints]+[f(prev,hw) for f in ops]
sim2.predictions=predictions
if __name__=='__main__':
    d=sys.argv[1]; lams=[float(x) for x in sys.argv[2].split(',')]; nf=int(sys.argv[3]); specs=sys.argv[4:]
    z=np.load(d+'/latents.npy').astype(np.float32)[:nf]; q=ts.Quantizer(np.load(d+'/codebooks.npy'))
    T,h,w,D=z.shape; z=z.reshape(T,h*w,D); hw=(h,w)
    ints=[s for s in ts.SHIFTS if s!=(0,0)]
    variants={'C':([],ints)}
    for s in specs:  # kind:R:file
        kind,R,f=s.split(':'); variants[f'{kind}{R}']=(make(kind,int(R),np.load(f)),ints)
    ipaths=[q.path(z[t],0) for t in range(T)]
    res={}; t0=time.time()
    for lam in lams:
        res[lam]=sim2.run(z,q,lam,ipaths,hw,variants)
        print(f'λ={lam:g} '+'  '.join(f"{k}: {v[0]:,.0f} b {ts.psnr(v[1]):.2f} dB sh {v[2]['shifted']:.2f}" for k,v in res[lam].items()),f'({time.time()-t0:.0f}s)',flush=True)
    curves={k:[(res[l][k][0],ts.psnr(res[l][k][1])) for l in lams] for k in variants}
    for r,p in sorted(curves['C'],key=lambda x:-x[1]):
        print(f'PSNR~ {p:.2f}: C {r:,.0f} bits; '+'  '.join(f"{k} {(lambda rd: '–' if rd is None else f'{rd/r-1:+.1%}')(ts.interp_rate(curves[k],p))}" for k in variants if k!='C'))
