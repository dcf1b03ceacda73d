#!/usr/bin/env python3
"""Conditional entropy of the moved flag under candidate contexts (docs/results/bits.md).

  python3 moved-flag-contexts.py MODES.npy   # from `vqcodec tokens S.vqc -o T.npy --modes MODES.npy`

Static empirical estimate (the optimum of a fixed model per context on the same data): an
optimistic bound on what a context can win, for comparing contexts with each other."""
import numpy as np, sys
m=np.load(sys.argv[1]); mode=m[...,0].astype(int); mot=m[...,1].astype(int)
F,H,W=mode.shape
def H2(p): 
    p=np.clip(p,1e-9,1-1e-9); return -(p*np.log2(p)+(1-p)*np.log2(1-p))
def cond_entropy(y, ctx):
    tot=0
    for c in np.unique(ctx):
        s=y[ctx==c]; tot+=len(s)*H2(s.mean())
    return tot
# age: frames since the position was last intra/inter coded (copy = not refreshed)
age=np.zeros((F,H,W),int)
for f in range(1,F):
    age[f]=np.where(mode[f-1]==1, age[f-1]+1, 0)
rows=[]
sel=(mode!=0); sel[0]=False
key=np.zeros(F,bool); key[0]=True
# keyframes: frames where all modes==0? detect
for f in range(F):
    if (mode[f]==0).all(): key[f]=True
sel[key]=False
y=(mot!=0)[sel].astype(float)
nl=np.zeros_like(mot); nl[:,:,1:]=(mot[:,:,:-1]!=0); na=np.zeros_like(mot); na[:,1:,:]=(mot[:,:-1,:]!=0)
nm=(nl+na)
pm=np.zeros_like(mot); pm[1:]=(mot[:-1]!=0)
pmode=np.zeros_like(mode); pmode[1:]=np.minimum(mode[:-1],2)
agec=np.minimum(np.floor(np.log2(age+1)).astype(int),4)
n=sel.sum()
print('positions', n, 'moved', y.mean())
for name,ctx in [('none',np.zeros_like(mot)),('nm',nm),('nm+pm',nm+3*pm),('nm+age',nm+3*agec),('nm+pm+age',nm+3*pm+6*agec),('nm+pm+pmode',nm+3*pm+6*pmode),('nm+pm+pmode+age',nm+3*pm+6*pmode+18*agec)]:
    print(name, round(cond_entropy(y, ctx[sel])/8/1024,1), 'KB')
