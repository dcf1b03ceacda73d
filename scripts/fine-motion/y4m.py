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

import os, subprocess
LAB = os.path.expanduser('~/.cache/vqcodec/target/release/vqcodec-lab')

def latents(header, frames, weights, tag):
    """`vqcodec-lab latents` of `frames` (written as y4m with `header`): [n, h, w, D]."""
    os.makedirs('/tmp/mc', exist_ok=True)
    p = f'/tmp/mc/{tag}.y4m'; write_y4m(p, header, frames)
    subprocess.run([LAB, 'latents', p, '--weights', weights, '-o', f'/tmp/mc/lat-{tag}'], check=True, capture_output=True)
    os.remove(p); return np.load(f'/tmp/mc/lat-{tag}/latents.npy')

def training_crops(C, seed=0, per_clip=4, margin=8):
    """Random (C + 2·margin)² crops of the training video clips (photos left out), up to
    `per_clip` frames of each clip's first 48; returns (crops [n, 3, C+2m, C+2m], a y4m header
    for C×C frames)."""
    rng = np.random.default_rng(seed)
    man = ['data/' + l.strip() for l in open('data/manifest-train.txt')]
    crops, hdr0 = [], None
    for m in (m for m in man if 'photo_' not in os.path.basename(m)):
        with open(m, 'rb') as f: line = f.readline().decode()
        toks = line.split(); w = int([t for t in toks if t[0] == 'W'][0][1:]); h = int([t for t in toks if t[0] == 'H'][0][1:])
        if w < C + 2 * margin or h < C + 2 * margin: continue
        _, fr = read_y4m(m, 48)
        for i in rng.choice(len(fr), min(per_clip, len(fr)), replace=False):
            y = rng.integers(margin, h - C - margin); x = rng.integers(margin, w - C - margin)
            crops.append(fr[i][:, y - margin:y + C + margin, x - margin:x + C + margin])
        hdr0 = ' '.join([t if t[0] not in 'WH' else (t[0] + str(C)) for t in toks])
    return np.stack(crops), hdr0
