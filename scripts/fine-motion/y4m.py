import numpy as np
def read_y4m(path, frames=None):
    with open(path,'rb') as f:
        data=f.read()
    nl=data.index(b'\n'); header=data[:nl].decode(); pos=nl+1
    toks=header.split(); w=int([t for t in toks if t[0]=='W'][0][1:]); h=int([t for t in toks if t[0]=='H'][0][1:])
    cs=[t for t in toks if t[0]=='C']; cs=cs[0][1:] if cs else '420'
    assert cs.startswith('444'), cs
    out=[]
    while pos < len(data):
        e=data.index(b'\n',pos); pos=e+1
        n=w*h*3
        out.append(np.frombuffer(data[pos:pos+n],np.uint8).reshape(3,h,w)); pos+=n
        if frames and len(out)>=frames: break
    return header, np.stack(out)
def write_y4m(path, header, fr):
    with open(path,'wb') as f:
        f.write(header.encode()+b'\n')
        for x in fr:
            f.write(b'FRAME\n'); f.write(np.ascontiguousarray(x).tobytes())
def shift(fr, dx, dy):
    # content moves by (dx,dy): out[y,x] = in[y-dy, x-dx], edge clamped
    n,c,h,w=fr.shape
    ys=np.clip(np.arange(h)-dy,0,h-1); xs=np.clip(np.arange(w)-dx,0,w-1)
    return fr[:,:,ys][:,:,:,xs]
