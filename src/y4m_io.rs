//! Reading and writing y4m files as [`Frame`]s through the `y4m` crate (feature `y4m`): the
//! native front ends' frame I/O.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::frame::{Chroma, Frame};

/// One frame's planes `(y, u, v)` as [`Frame::to_yuv`] makes them.
pub type Planes = (Vec<u8>, Vec<u8>, Vec<u8>);

/// A source of bytes that can move to another thread (a reader runs ahead of the codec).
pub type Input = Box<dyn Read + Send>;

/// Opens `path` for reading; `-` is stdin.
pub fn open_input(path: &Path) -> Result<Input> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let f = File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
    Ok(Box::new(BufReader::new(f)))
}

/// Creates `path` for writing; `-` is stdout.
pub fn create_output(path: &Path) -> Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufWriter::new(io::stdout().lock())));
    }
    let f =
        File::create(path).with_context(|| format!("cannot create output {}", path.display()))?;
    Ok(Box::new(BufWriter::new(f)))
}

/// A y4m source producing RGB [`Frame`]s and remembering the original luma planes.
pub struct Y4mReader {
    dec: y4m::Decoder<Input>,
    chroma: Chroma,
    /// Header fields for writing a matching output.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Frame rate.
    pub framerate: y4m::Ratio,
    /// Colour space tag of the input.
    pub colorspace: y4m::Colorspace,
}

/// One input frame: RGB for the model and the source's own luma for PSNR-Y.
pub struct InputFrame {
    /// RGB converted from the source.
    pub rgb: Frame,
    /// The source's Y' plane as stored.
    pub luma: Vec<u8>,
}

fn chroma_of(cs: y4m::Colorspace) -> Result<Chroma> {
    use y4m::Colorspace as C;
    Ok(match cs {
        C::C420 | C::C420jpeg | C::C420paldv | C::C420mpeg2 => Chroma::C420,
        C::C422 => Chroma::C422,
        C::C444 => Chroma::C444,
        C::Cmono => Chroma::Mono,
        other => bail!(
            "unsupported y4m colour format {other:?}: only 8-bit 4:2:0, 4:2:2, 4:4:4 and mono are supported \
             (convert with: ffmpeg -i IN -pix_fmt yuv420p OUT.y4m)"
        ),
    })
}

impl Y4mReader {
    /// Parses the y4m header.
    ///
    /// # Errors
    /// When the input is not y4m or its colour format is not supported.
    pub fn new(input: Input, name: &str) -> Result<Self> {
        let dec = y4m::decode(input)
            .map_err(|e| anyhow::anyhow!("{name} is not a readable y4m file: {e}"))?;
        let colorspace = dec.get_colorspace();
        let chroma = chroma_of(colorspace)?;
        Ok(Self {
            width: dec.get_width(),
            height: dec.get_height(),
            framerate: dec.get_framerate(),
            colorspace,
            chroma,
            dec,
        })
    }

    /// The next frame, or `None` at the end of the stream.
    ///
    /// # Errors
    /// On a truncated or malformed frame.
    pub fn next_frame(&mut self) -> Result<Option<InputFrame>> {
        match self.dec.read_frame() {
            Ok(f) => {
                let rgb = Frame::from_yuv(
                    self.width,
                    self.height,
                    self.chroma,
                    f.get_y_plane(),
                    f.get_u_plane(),
                    f.get_v_plane(),
                )?;
                Ok(Some(InputFrame {
                    rgb,
                    luma: f.get_y_plane().to_vec(),
                }))
            }
            Err(y4m::Error::EOF) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading a y4m frame failed: {e}")),
        }
    }

    /// Chroma layout of the input.
    pub fn chroma(&self) -> Chroma {
        self.chroma
    }
}

/// Writes RGB frames as y4m in a given chroma layout.
pub struct Y4mWriter {
    enc: y4m::Encoder<Box<dyn Write>>,
    chroma: Chroma,
}

impl Y4mWriter {
    /// Writes the header.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn new(
        out: Box<dyn Write>,
        width: usize,
        height: usize,
        framerate: y4m::Ratio,
        chroma: Chroma,
    ) -> Result<Self> {
        let cs = match chroma {
            Chroma::C420 => y4m::Colorspace::C420jpeg,
            Chroma::C422 => y4m::Colorspace::C422,
            Chroma::C444 => y4m::Colorspace::C444,
            Chroma::Mono => y4m::Colorspace::Cmono,
        };
        let enc = y4m::encode(width, height, framerate)
            .with_colorspace(cs)
            .write_header(out)
            .map_err(|e| anyhow::anyhow!("writing the y4m header failed: {e}"))?;
        Ok(Self { enc, chroma })
    }

    /// The chroma layout frames are written in.
    pub fn chroma(&self) -> Chroma {
        self.chroma
    }

    /// Writes one frame already converted to this writer's layout
    /// ([`Frame::to_yuv`] with [`Y4mWriter::chroma`]).
    ///
    /// # Errors
    /// On I/O failure.
    pub fn write_planes(&mut self, (y, u, v): &Planes) -> Result<()> {
        self.enc
            .write_frame(&y4m::Frame::new([y, u, v], None))
            .map_err(|e| anyhow::anyhow!("writing a y4m frame failed: {e}"))
    }

    /// Converts and writes one frame; returns its Y' plane.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn write(&mut self, frame: &Frame) -> Result<Vec<u8>> {
        let planes = frame.to_yuv(self.chroma);
        self.write_planes(&planes)?;
        Ok(planes.0)
    }
}
