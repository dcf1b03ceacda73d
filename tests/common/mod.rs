//! Helpers shared by the integration tests.
#![allow(dead_code)]

use vqcodec::Frame;

/// Frames of a checked-in 4:2:0 y4m clip (a minimal reader: header, then FRAME markers).
pub fn y4m_frames(bytes: &[u8]) -> Vec<Frame> {
    // minimal reader for the test clip: 4:2:0, header then FRAME markers
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&bytes[..header_end]).unwrap();
    let field = |c: char| {
        header.split(' ').find(|t| t.starts_with(c)).unwrap()[1..]
            .parse::<usize>()
            .unwrap()
    };
    let (w, h) = (field('W'), field('H'));
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut frames = Vec::new();
    let mut pos = header_end + 1;
    while pos < bytes.len() {
        pos += bytes[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let y = &bytes[pos..pos + w * h];
        let u = &bytes[pos + w * h..pos + w * h + cw * ch];
        let v = &bytes[pos + w * h + cw * ch..pos + w * h + 2 * cw * ch];
        frames.push(Frame::from_yuv(w, h, vqcodec::Chroma::C420, y, u, v).unwrap());
        pos += w * h + 2 * cw * ch;
    }
    frames
}

/// Frames of a checked-in clip by path.
pub fn clip(path: &str) -> Vec<Frame> {
    y4m_frames(&std::fs::read(path).unwrap())
}
