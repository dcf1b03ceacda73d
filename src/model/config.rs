//! Model sizes.

use burn::config::Config;

use super::layers::conv_flops;

/// Sizes of a [`VqVae`](super::VqVae). The two shipped presets are [`VqVaeConfig::base`]
/// (for WebGPU) and [`VqVaeConfig::lite`] (for the CPU fallback).
#[derive(Config, Debug, PartialEq)]
pub struct VqVaeConfig {
    /// Spatial downsampling from pixels to latent positions: 4, 8 or 16.
    #[config(default = 8)]
    pub downsample: usize,
    /// Channels at 1/4 resolution, after the 4× pixel-unshuffle stem; 0 skips that stage
    /// and goes straight to 1/8 resolution (cheaper, used by the lite model).
    #[config(default = 32)]
    pub mid_channels: usize,
    /// Channels of the residual trunk at latent resolution.
    #[config(default = 128)]
    pub latent_channels: usize,
    /// Residual blocks in the encoder trunk and again in the decoder trunk.
    #[config(default = 2)]
    pub res_blocks: usize,
    /// Dimension of each code vector.
    #[config(default = 16)]
    pub code_dim: usize,
    /// Residual quantizer depth L (levels).
    #[config(default = 3)]
    pub levels: usize,
    /// Codes per level K (a power of two keeps the raw token rate whole bits).
    #[config(default = 128)]
    pub codebook_size: usize,
    /// A linear path beside the networks, between each pixel block (`3·s²` values, `s` =
    /// `downsample`) and its latent: the encoder adds `W_e·block + b_e` to its output, the
    /// decoder adds the block `W_d·z + b_d` to its own. Training starts it at the blocks'
    /// principal components (the networks' last layers at zero), so a model begins at the best
    /// linear transform of its width and learns what is nonlinear on top. Off in v1 weights.
    #[config(default = false)]
    pub linear_path: bool,
    /// Fine motion: the range in pixels per axis (1..=7) of the motion maps the weight file
    /// carries (tensor `motion`, fitted after training by `vqcodec-lab motion-ops`); 0: none,
    /// delta frames predict with whole-position motion only (docs/bitstream.md).
    #[config(default = 0)]
    pub motion_range: usize,
    /// The encoder's latent metric: the weight file carries (tensor `metric`, `D × D`, measured
    /// after training by `vqcodec-lab metric`) how much each latent direction matters to the
    /// decoded picture, and the encoder weighs its choices by it ([`vqc::Metric`]). Not part
    /// of the format: decoders do not read it.
    #[config(default = false)]
    pub latent_metric: bool,
    /// Channels of the decoder's block-edge filter (0: none; [`super::Decoder`]): a residual
    /// 1×1 MLP on the output's `s × s` blocks shifted by half a block, so each of its windows
    /// straddles the edges between four of the latent's blocks. Pixels only: the bitstream
    /// and the decoded latents are the same with or without it.
    #[config(default = 0)]
    pub post_filter: usize,
    /// Enhancement (0: none): the last `E` of the `code_dim` latent values are a linear code of
    /// what the networks' picture leaves out. The networks make and read the first
    /// `code_dim − E` values; the encoder projects each pixel block of `frame − (the networks'
    /// picture of their unquantized values)` on `E` directions (a 1×1 `3·s² → E`, no bias) and
    /// the decoder adds them back (a 1×1 `E → 3·s²`, no bias) after the block-edge filter.
    /// Where the first levels' codes are zero in the enhancement's part, streams that stop
    /// there decode as the networks alone would; deeper ones lift the networks' ceiling
    /// (`vqcodec-lab enhance` fits the directions and the levels to a trained model).
    #[config(default = 0)]
    pub enhance_dims: usize,
}

impl VqVaeConfig {
    /// The base model, sized for WebGPU.
    pub fn base() -> Self {
        Self::new()
    }

    /// The lite model, sized for the CPU fallback in wasm (a few kFLOP per pixel).
    pub fn lite() -> Self {
        Self::new()
            .with_mid_channels(0)
            .with_latent_channels(64)
            .with_res_blocks(1)
    }

    /// Latent values the networks make and read: `code_dim` less the enhancement's.
    pub fn net_dim(&self) -> usize {
        self.code_dim - self.enhance_dims
    }

    /// Checks that the sizes describe a buildable model.
    ///
    /// # Errors
    /// Returns a description of the first size out of range.
    pub fn validate(&self) -> Result<(), String> {
        if ![4, 8, 16].contains(&self.downsample) {
            return Err(format!(
                "downsample {} (expected 4, 8 or 16)",
                self.downsample
            ));
        }
        if self.downsample == 4 && self.mid_channels == 0 {
            return Err("downsample 4 needs mid_channels > 0".into());
        }
        if self.post_filter > 1024 {
            return Err(format!(
                "post_filter {} (expected 0..=1024)",
                self.post_filter
            ));
        }
        if self.motion_range > usize::from(vqc::MAX_FINE_RANGE) {
            return Err(format!(
                "motion_range {} (expected 0..={})",
                self.motion_range,
                vqc::MAX_FINE_RANGE
            ));
        }
        if self.enhance_dims > 0 {
            let block = 3 * self.downsample * self.downsample;
            if self.enhance_dims >= self.code_dim || self.enhance_dims > block {
                return Err(format!(
                    "enhance_dims {} (expected below code_dim {} and at most {block})",
                    self.enhance_dims, self.code_dim
                ));
            }
            if self.linear_path {
                return Err("enhance_dims and linear_path do not go together".into());
            }
        }
        for (name, v, max) in [
            ("latent_channels", self.latent_channels, 4096),
            ("code_dim", self.code_dim, 1024),
            // a stream's header holds at most the format's levels
            ("levels", self.levels, usize::from(vqc::MAX_LEVELS)),
            ("codebook_size", self.codebook_size, 65536),
        ] {
            if v == 0 || v > max {
                return Err(format!("{name} {v} (expected 1..={max})"));
            }
        }
        Ok(())
    }

    /// Raw token rate with `levels` RVQ levels, in bits per pixel, *before* entropy coding:
    /// `levels × log2(K) / downsample²`.
    pub fn raw_bpp(&self, levels: usize) -> f64 {
        levels as f64 * (self.codebook_size as f64).log2()
            / (self.downsample * self.downsample) as f64
    }

    /// Floating-point operations per pixel of the encoder (including the nearest-code search
    /// over all levels) and of the decoder, counting a multiply–add as two.
    pub fn flops_per_pixel(&self) -> (f64, f64) {
        let s2 = (self.downsample * self.downsample) as f64;
        let c = self.latent_channels;
        let mut enc = 0.0;
        let mut dec = 0.0;
        if self.mid_channels > 0 {
            let m = self.mid_channels;
            // at 1/4 resolution: 1×1 stem and a 3×3, both ways
            let quarter = (conv_flops(1, 48, m) + conv_flops(3, m, m)) as f64 / 16.0;
            if self.downsample == 4 {
                enc += quarter + conv_flops(1, m, c) as f64 / 16.0;
                dec += quarter + conv_flops(1, c, m) as f64 / 16.0;
            } else {
                enc += quarter + conv_flops(1, 4 * m, c) as f64 / 64.0;
                dec += quarter + conv_flops(1, c, 4 * m) as f64 / 64.0;
            }
        } else {
            enc += conv_flops(1, 192, c) as f64 / 64.0;
            dec += conv_flops(1, c, 192) as f64 / 64.0;
        }
        if self.downsample == 16 {
            enc += conv_flops(1, 4 * c, c) as f64 / 256.0;
            dec += conv_flops(1, c, 4 * c) as f64 / 256.0;
        }
        if self.linear_path {
            let block = 3 * self.downsample * self.downsample;
            enc += conv_flops(1, block, self.code_dim) as f64 / s2;
            dec += conv_flops(1, self.code_dim, block) as f64 / s2;
        }
        let trunk =
            self.res_blocks as f64 * (conv_flops(3, c, c) + conv_flops(1, c, c)) as f64 / s2;
        let d0 = self.net_dim();
        enc += trunk + conv_flops(1, c, d0) as f64 / s2;
        dec += trunk + conv_flops(1, d0, c) as f64 / s2;
        let block = 3 * self.downsample * self.downsample;
        if self.post_filter > 0 {
            // both 1×1s once per shifted block (one fewer row and column than the grid)
            dec += 2.0 * conv_flops(1, block, self.post_filter) as f64 / s2;
        }
        if self.enhance_dims > 0 {
            // the encoder runs the networks' decoder and projects the residual
            enc += dec + conv_flops(1, block, self.enhance_dims) as f64 / s2;
            dec += conv_flops(1, self.enhance_dims, block) as f64 / s2;
        }
        // nearest-code search: one [D]·[D×K] product per level and position
        enc += (self.levels * 2 * self.code_dim * self.codebook_size) as f64 / s2;
        (enc, dec)
    }
}
