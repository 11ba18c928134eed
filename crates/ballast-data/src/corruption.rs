//! Common image corruptions at five severities, in the spirit of ImageNet-C / CIFAR-10-C
//! (Hendrycks & Dietterich 2019) but with this crate's own small implementations, for any
//! `[C, H, W]` image in [0, 1] (1-channel 28×28 Fashion-MNIST, 3-channel 32×32 CIFAR, ...).
//!
//! | kind (serde name) | what it does | severity 1 → 5 |
//! |---|---|---|
//! | `gaussian-noise` | adds `N(0, σ²)` to every value | σ = 0.04, 0.07, 0.10, 0.14, 0.20 |
//! | `shot-noise` | photon noise: `Poisson(λ·x)/λ` per value | λ = 100, 50, 25, 12, 6 |
//! | `impulse-noise` | salt and pepper: a fraction `p` of values set to 0 or 1 (½ each) | p = 0.02, 0.04, 0.07, 0.11, 0.17 |
//! | `gaussian-blur` | separable Gaussian filter, edges replicated | σ = 0.5, 0.75, 1.0, 1.5, 2.0 px |
//! | `motion-blur` | mean along a centred line at a random angle, bilinear, edges replicated | length 3, 5, 7, 9, 11 px |
//! | `brightness` | raises the HSV value `V = max_c x_c` by `b`, keeping hue and saturation (a black pixel becomes grey `b`) | b = 0.1, 0.2, 0.3, 0.4, 0.5 |
//! | `contrast` | `(x − m)·f + m`, `m` the mean over the whole image | f = 0.75, 0.5, 0.35, 0.2, 0.1 |
//! | `pixelate` | replaces each `b×b` block (from the top left; partial blocks at the edges) by its mean | b = 2, 3, 4, 5, 6 px |
//! | `jpeg-like` | 8×8 DCT-II per block (YCbCr for 3 channels), coefficients quantised with the standard JPEG tables at quality `q`, DCT-III back | q = 75, 50, 30, 18, 10 |
//! | `fog` | blends toward grey 0.9 with weight `a·(0.4 + 0.6·F)`, `F` a smooth random field in [0, 1] (three octaves of bilinearly upsampled random grids), the same for every channel | a = 0.2, 0.3, 0.4, 0.5, 0.6 |
//!
//! Outputs are clamped to [0, 1]. For one seed the random draws (noise values, the salt and
//! pepper positions, the motion angle, the fog field) do not depend on the severity, so for
//! every kind except `shot-noise` a higher severity moves the image at least as far from the
//! original pixel by pixel or, for the filters, on average; `shot-noise` does so on average.
//!
//! [`Corruption::HELD_OUT_DEFAULT`] (`fog`, `pixelate`, `motion-blur`) is kept out of
//! training for out-of-distribution tests; each has a relative among the other seven
//! (brightness and contrast, JPEG blocking, Gaussian blur), so held-out results measure
//! generalisation to a new variant of a seen effect rather than to something unrelated.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::DataError;
use crate::rng::SeededRng;

/// Stream salts: one per call of [`corrupt`] (xor the kind's position, so kinds sharing a
/// seed draw independently) and one for the choices of [`corrupt_batch`].
const SALT_CORRUPT: u64 = 0x636f_7272_0000;
const SALT_BATCH: u64 = 0x6362_6174;

/// One corruption type. Serde / `FromStr` / `Display` use the kebab-case names in the
/// module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corruption {
    /// Additive Gaussian noise (`gaussian-noise`).
    GaussianNoise,
    /// Poisson photon noise (`shot-noise`).
    ShotNoise,
    /// Salt-and-pepper noise (`impulse-noise`).
    ImpulseNoise,
    /// Gaussian blur (`gaussian-blur`).
    GaussianBlur,
    /// Line blur at a random angle (`motion-blur`).
    MotionBlur,
    /// Brighter HSV value (`brightness`).
    Brightness,
    /// Lower contrast toward the image mean (`contrast`).
    Contrast,
    /// Block averaging (`pixelate`).
    Pixelate,
    /// Blockwise DCT quantisation (`jpeg-like`).
    JpegLike,
    /// Smooth bright haze (`fog`).
    Fog,
}

impl Corruption {
    /// Every kind, in declaration order.
    pub const ALL: [Corruption; 10] = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::GaussianBlur,
        Corruption::MotionBlur,
        Corruption::Brightness,
        Corruption::Contrast,
        Corruption::Pixelate,
        Corruption::JpegLike,
        Corruption::Fog,
    ];

    /// The kinds kept out of training for out-of-distribution tests (see the module docs).
    pub const HELD_OUT_DEFAULT: [Corruption; 3] = [
        Corruption::Fog,
        Corruption::Pixelate,
        Corruption::MotionBlur,
    ];

    /// [`Corruption::ALL`] minus [`Corruption::HELD_OUT_DEFAULT`], in declaration order.
    pub fn in_distribution() -> Vec<Corruption> {
        Self::ALL
            .into_iter()
            .filter(|k| !Self::HELD_OUT_DEFAULT.contains(k))
            .collect()
    }

    /// The kebab-case name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Corruption::GaussianNoise => "gaussian-noise",
            Corruption::ShotNoise => "shot-noise",
            Corruption::ImpulseNoise => "impulse-noise",
            Corruption::GaussianBlur => "gaussian-blur",
            Corruption::MotionBlur => "motion-blur",
            Corruption::Brightness => "brightness",
            Corruption::Contrast => "contrast",
            Corruption::Pixelate => "pixelate",
            Corruption::JpegLike => "jpeg-like",
            Corruption::Fog => "fog",
        }
    }

    fn index(self) -> u64 {
        Self::ALL.iter().position(|&k| k == self).unwrap_or(0) as u64
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Corruption {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Corruption::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Corruption::ALL.iter().map(|k| k.name()).collect();
                DataError::InvalidArgument(format!(
                    "unknown corruption {s:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// The kinds and severities [`corrupt_batch`] draws from, as it appears in a config file.
/// The default is [`Corruption::in_distribution`] at every severity 1..=5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorruptionSet {
    /// Kinds, drawn uniformly (repeat a kind to weight it).
    pub kinds: Vec<Corruption>,
    /// Severities in 1..=5, drawn uniformly and independently of the kind.
    pub severities: Vec<u8>,
}

impl Default for CorruptionSet {
    fn default() -> Self {
        Self {
            kinds: Corruption::in_distribution(),
            severities: vec![1, 2, 3, 4, 5],
        }
    }
}

impl CorruptionSet {
    /// [`Corruption::HELD_OUT_DEFAULT`] at every severity.
    pub fn held_out() -> Self {
        Self {
            kinds: Corruption::HELD_OUT_DEFAULT.to_vec(),
            ..Self::default()
        }
    }

    /// Both lists must be non-empty and every severity in 1..=5.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.kinds.is_empty() {
            return Err(DataError::InvalidArgument(
                "corruption set has no kinds".into(),
            ));
        }
        if self.severities.is_empty() {
            return Err(DataError::InvalidArgument(
                "corruption set has no severities".into(),
            ));
        }
        for &s in &self.severities {
            severity_index(s)?;
        }
        Ok(())
    }
}

/// Position 0..5 of a severity in the tables, or an error naming it.
fn severity_index(severity: u8) -> Result<usize, DataError> {
    if (1..=5).contains(&severity) {
        Ok(usize::from(severity - 1))
    } else {
        Err(DataError::InvalidArgument(format!(
            "corruption severity {severity} is outside 1..=5"
        )))
    }
}

/// `image` (`[C, H, W]`, values in [0, 1]) corrupted by `kind` at `severity` (1..=5), with
/// `seed` driving the random parts; the result has the same shape and lies in [0, 1].
/// Errors on a severity outside 1..=5 or an image whose length is not `C·H·W`.
pub fn corrupt(
    image: &[f32],
    shape: [usize; 3],
    kind: Corruption,
    severity: u8,
    seed: u64,
) -> Result<Vec<f32>, DataError> {
    let s = severity_index(severity)?;
    let [c, h, w] = shape;
    if image.len() != c * h * w {
        return Err(DataError::SizeMismatch {
            what: "image",
            expected: c * h * w,
            actual: image.len(),
        });
    }
    if image.is_empty() {
        return Ok(Vec::new());
    }
    let mut rng = SeededRng::new(seed, SALT_CORRUPT ^ kind.index());
    let mut out = match kind {
        Corruption::GaussianNoise => {
            let sigma = [0.04, 0.07, 0.10, 0.14, 0.20][s];
            image
                .iter()
                .map(|&v| v + (sigma * rng.normal()) as f32)
                .collect()
        }
        Corruption::ShotNoise => {
            let lambda = [100.0, 50.0, 25.0, 12.0, 6.0][s];
            image
                .iter()
                .map(|&v| (poisson(&mut rng, lambda * f64::from(v.max(0.0))) / lambda) as f32)
                .collect()
        }
        Corruption::ImpulseNoise => {
            let p = [0.02, 0.04, 0.07, 0.11, 0.17][s];
            image
                .iter()
                .map(|&v| {
                    // Both draws are made for every value so that the corrupted positions
                    // grow with p for one seed.
                    let (hit, salt) = (rng.uniform(), rng.uniform());
                    match (hit < p, salt < 0.5) {
                        (false, _) => v,
                        (true, true) => 1.0,
                        (true, false) => 0.0,
                    }
                })
                .collect()
        }
        Corruption::GaussianBlur => gaussian_blur(image, shape, [0.5, 0.75, 1.0, 1.5, 2.0][s]),
        Corruption::MotionBlur => {
            let angle = core::f64::consts::PI * rng.uniform();
            motion_blur(image, shape, [3, 5, 7, 9, 11][s], angle)
        }
        Corruption::Brightness => brightness(image, shape, [0.1, 0.2, 0.3, 0.4, 0.5][s]),
        Corruption::Contrast => {
            let f = [0.75, 0.5, 0.35, 0.2, 0.1][s];
            let mean = mean(image);
            image.iter().map(|&v| (v - mean) * f + mean).collect()
        }
        Corruption::Pixelate => pixelate(image, shape, [2, 3, 4, 5, 6][s]),
        Corruption::JpegLike => jpeg_like(image, shape, [75, 50, 30, 18, 10][s]),
        Corruption::Fog => {
            let a = [0.2, 0.3, 0.4, 0.5, 0.6][s];
            let field = smooth_field(h, w, &mut rng);
            let plane = h * w;
            image
                .iter()
                .enumerate()
                .map(|(k, &v)| {
                    let weight = a * (0.4 + 0.6 * field[k % plane.max(1)]);
                    v + weight * (FOG_LEVEL - v)
                })
                .collect()
        }
    };
    for v in &mut out {
        *v = v.clamp(0.0, 1.0);
    }
    Ok(out)
}

/// A corrupted batch (`[n, C·H·W]`) and the `(kind, severity)` applied to each example.
pub type CorruptedBatch = (Vec<f32>, Vec<(Corruption, u8)>);

/// Corrupts every example of `x` (`[n, C·H·W]`, one example after another) with a kind and
/// a severity drawn uniformly and independently from `set`, returning the corrupted batch
/// (same layout) and the `(kind, severity)` of each example, e.g. for (clean, corrupted)
/// training pairs. One stream for `seed` draws the kind, the severity and a seed for
/// [`corrupt`] per example, so the batch is reproducible.
pub fn corrupt_batch(
    x: &[f32],
    shape: [usize; 3],
    set: &CorruptionSet,
    seed: u64,
) -> Result<CorruptedBatch, DataError> {
    set.validate()?;
    let d = shape.iter().product::<usize>();
    if d == 0 {
        return Err(DataError::Empty("corruption image shape"));
    }
    if !x.len().is_multiple_of(d) {
        return Err(DataError::InvalidArgument(format!(
            "batch length {} is not a multiple of the image size {d}",
            x.len()
        )));
    }
    let mut rng = SeededRng::new(seed, SALT_BATCH);
    let mut out = Vec::with_capacity(x.len());
    let mut applied = Vec::with_capacity(x.len() / d);
    for example in x.chunks_exact(d) {
        let kind = set.kinds[rng.below(set.kinds.len())];
        let severity = set.severities[rng.below(set.severities.len())];
        let sub_seed = rng.next_u64();
        out.extend(corrupt(example, shape, kind, severity, sub_seed)?);
        applied.push((kind, severity));
    }
    Ok((out, applied))
}

/// The grey level fog blends toward.
const FOG_LEVEL: f32 = 0.9;

fn mean(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64) as f32
}

/// A Poisson draw with mean `mean` (Knuth's product method below 30, a rounded normal
/// approximation above, where it is accurate to well under the quantisation step).
fn poisson(rng: &mut SeededRng, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if mean < 30.0 {
        let limit = (-mean).exp();
        let mut k = 0.0;
        let mut p = rng.uniform();
        while p > limit {
            k += 1.0;
            p *= rng.uniform();
        }
        k
    } else {
        (mean + mean.sqrt() * rng.normal()).round().max(0.0)
    }
}

/// Value at fractional `(row, col)` of an `h×w` plane by bilinear interpolation, reading
/// the nearest edge pixel outside.
fn bilinear_clamped(plane: &[f32], h: usize, w: usize, row: f64, col: f64) -> f32 {
    let row = row.clamp(0.0, (h - 1) as f64);
    let col = col.clamp(0.0, (w - 1) as f64);
    let (r0, q0) = (row.floor() as usize, col.floor() as usize);
    let (r1, q1) = ((r0 + 1).min(h - 1), (q0 + 1).min(w - 1));
    let (fr, fq) = ((row - r0 as f64) as f32, (col - q0 as f64) as f32);
    let top = plane[r0 * w + q0] * (1.0 - fq) + plane[r0 * w + q1] * fq;
    let bottom = plane[r1 * w + q0] * (1.0 - fq) + plane[r1 * w + q1] * fq;
    top * (1.0 - fr) + bottom * fr
}

/// Separable Gaussian filter with standard deviation `sigma` pixels (radius ⌈3σ⌉, weights
/// normalised), replicating edge pixels.
fn gaussian_blur(image: &[f32], shape: [usize; 3], sigma: f64) -> Vec<f32> {
    let [_, h, w] = shape;
    let radius = (3.0 * sigma).ceil() as isize;
    let raw: Vec<f64> = (-radius..=radius)
        .map(|k| (-(k * k) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = raw.iter().sum();
    let kernel: Vec<f32> = raw.iter().map(|k| (k / total) as f32).collect();
    let at = |k: isize, n: usize| k.clamp(0, n as isize - 1) as usize;
    let mut out = vec![0f32; image.len()];
    let mut tmp = vec![0f32; h * w];
    for (src, dst) in image.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
        for i in 0..h {
            for j in 0..w {
                tmp[i * w + j] = kernel
                    .iter()
                    .enumerate()
                    .map(|(t, k)| k * src[i * w + at(j as isize + t as isize - radius, w)])
                    .sum();
            }
        }
        for i in 0..h {
            for j in 0..w {
                dst[i * w + j] = kernel
                    .iter()
                    .enumerate()
                    .map(|(t, k)| k * tmp[at(i as isize + t as isize - radius, h) * w + j])
                    .sum();
            }
        }
    }
    out
}

/// Mean of `length` bilinear samples spaced one pixel apart along a line through each pixel
/// at `angle` radians (counter-clockwise from the x axis as displayed), edges replicated.
fn motion_blur(image: &[f32], shape: [usize; 3], length: usize, angle: f64) -> Vec<f32> {
    let [_, h, w] = shape;
    let (sin, cos) = angle.sin_cos();
    let offsets: Vec<(f64, f64)> = (0..length)
        .map(|k| {
            let t = k as f64 - (length as f64 - 1.0) / 2.0;
            // Rows grow downward, so a counter-clockwise direction has a negative row step.
            (-t * sin, t * cos)
        })
        .collect();
    let mut out = vec![0f32; image.len()];
    for (src, dst) in image.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
        for i in 0..h {
            for j in 0..w {
                let sum: f32 = offsets
                    .iter()
                    .map(|&(dr, dc)| bilinear_clamped(src, h, w, i as f64 + dr, j as f64 + dc))
                    .sum();
                dst[i * w + j] = sum / length as f32;
            }
        }
    }
    out
}

/// Raises the HSV value `V = max_c x_c` of every pixel by `b` (capped at 1) while keeping
/// hue and saturation, i.e. scales the pixel's channels by `V'/V`; black pixels become `b`.
fn brightness(image: &[f32], shape: [usize; 3], b: f32) -> Vec<f32> {
    let [c, h, w] = shape;
    let plane = h * w;
    let mut out = image.to_vec();
    for p in 0..plane {
        let v = (0..c).map(|ch| image[ch * plane + p]).fold(0f32, f32::max);
        let target = (v + b).min(1.0);
        for ch in 0..c {
            let x = image[ch * plane + p];
            out[ch * plane + p] = if v > 0.0 { x * target / v } else { target };
        }
    }
    out
}

/// Replaces each `b×b` block of every channel (tiled from the top left; blocks at the
/// right and bottom edges may be smaller) by its mean.
fn pixelate(image: &[f32], shape: [usize; 3], b: usize) -> Vec<f32> {
    let [_, h, w] = shape;
    let mut out = vec![0f32; image.len()];
    for (src, dst) in image.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
        for i0 in (0..h).step_by(b) {
            for j0 in (0..w).step_by(b) {
                let (i1, j1) = ((i0 + b).min(h), (j0 + b).min(w));
                let sum: f32 = (i0..i1)
                    .flat_map(|i| src[i * w + j0..i * w + j1].iter())
                    .sum();
                let m = sum / ((i1 - i0) * (j1 - j0)) as f32;
                for i in i0..i1 {
                    dst[i * w + j0..i * w + j1].fill(m);
                }
            }
        }
    }
    out
}

/// JPEG's luminance quantisation table (ITU T.81 Annex K), row-major by frequency.
const LUMA_Q: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// JPEG's chrominance quantisation table (ITU T.81 Annex K).
const CHROMA_Q: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// `table` scaled to `quality` (1..=100) the way libjpeg does, each step at least 1.
fn scaled_table(table: &[u16; 64], quality: u32) -> [f64; 64] {
    let q = quality.clamp(1, 100);
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    table.map(|t| ((u32::from(t) * scale + 50) / 100).max(1) as f64)
}

/// The orthonormal 8-point DCT-II matrix: `M[u][x] = α(u)·cos((2x + 1)uπ/16)`.
fn dct_matrix() -> [[f64; 8]; 8] {
    let mut m = [[0.0; 8]; 8];
    for (u, row) in m.iter_mut().enumerate() {
        let alpha = if u == 0 { (1.0f64 / 8.0).sqrt() } else { 0.5 };
        for (x, v) in row.iter_mut().enumerate() {
            *v = alpha * ((2 * x + 1) as f64 * u as f64 * core::f64::consts::PI / 16.0).cos();
        }
    }
    m
}

/// Quantises one `h×w` plane (values in JPEG's level-shifted 0..255 − 128 range) blockwise:
/// `F = M·B·Mᵀ`, `F ← round(F / Q)·Q`, `B ← Mᵀ·F·M`. Blocks cut by the image edge are
/// completed by replicating edge pixels and only their inside is written back.
fn quantise_plane(plane: &mut [f64], h: usize, w: usize, q: &[f64; 64], m: &[[f64; 8]; 8]) {
    let mut block = [[0f64; 8]; 8];
    let mut tmp = [[0f64; 8]; 8];
    for i0 in (0..h).step_by(8) {
        for j0 in (0..w).step_by(8) {
            for (y, row) in block.iter_mut().enumerate() {
                for (x, v) in row.iter_mut().enumerate() {
                    *v = plane[(i0 + y).min(h - 1) * w + (j0 + x).min(w - 1)];
                }
            }
            // tmp = M·B, block = tmp·Mᵀ (the coefficients).
            for u in 0..8 {
                for x in 0..8 {
                    tmp[u][x] = (0..8).map(|y| m[u][y] * block[y][x]).sum();
                }
            }
            for u in 0..8 {
                for v in 0..8 {
                    let f: f64 = (0..8).map(|x| tmp[u][x] * m[v][x]).sum();
                    let step = q[u * 8 + v];
                    block[u][v] = (f / step).round() * step;
                }
            }
            // tmp = Mᵀ·F, block = tmp·M (the pixels).
            for y in 0..8 {
                for v in 0..8 {
                    tmp[y][v] = (0..8).map(|u| m[u][y] * block[u][v]).sum();
                }
            }
            for y in 0..8 {
                for x in 0..8 {
                    block[y][x] = (0..8).map(|v| tmp[y][v] * m[v][x]).sum();
                }
            }
            for y in 0..8.min(h - i0) {
                for x in 0..8.min(w - j0) {
                    plane[(i0 + y) * w + j0 + x] = block[y][x];
                }
            }
        }
    }
}

/// JPEG-style compression without entropy coding: 3-channel images go through YCbCr (no
/// chroma subsampling) with the luminance table on Y and the chrominance table on Cb / Cr;
/// other channel counts quantise every channel with the luminance table.
fn jpeg_like(image: &[f32], shape: [usize; 3], quality: u32) -> Vec<f32> {
    let [c, h, w] = shape;
    let plane = h * w;
    let m = dct_matrix();
    let luma = scaled_table(&LUMA_Q, quality);
    let chroma = scaled_table(&CHROMA_Q, quality);
    let px = |k: usize| f64::from(image[k]) * 255.0;
    if c == 3 {
        let mut ycc = vec![0f64; 3 * plane];
        for p in 0..plane {
            let (r, g, b) = (px(p), px(plane + p), px(2 * plane + p));
            ycc[p] = 0.299 * r + 0.587 * g + 0.114 * b - 128.0;
            ycc[plane + p] = -0.168_736 * r - 0.331_264 * g + 0.5 * b;
            ycc[2 * plane + p] = 0.5 * r - 0.418_688 * g - 0.081_312 * b;
        }
        for (ch, data) in ycc.chunks_exact_mut(plane).enumerate() {
            quantise_plane(data, h, w, if ch == 0 { &luma } else { &chroma }, &m);
        }
        let mut out = vec![0f32; image.len()];
        for p in 0..plane {
            let (y, cb, cr) = (ycc[p] + 128.0, ycc[plane + p], ycc[2 * plane + p]);
            out[p] = ((y + 1.402 * cr) / 255.0) as f32;
            out[plane + p] = ((y - 0.344_136 * cb - 0.714_136 * cr) / 255.0) as f32;
            out[2 * plane + p] = ((y + 1.772 * cb) / 255.0) as f32;
        }
        out
    } else {
        let mut data: Vec<f64> = (0..image.len()).map(|k| px(k) - 128.0).collect();
        for ch in data.chunks_exact_mut(plane) {
            quantise_plane(ch, h, w, &luma, &m);
        }
        data.iter().map(|&v| ((v + 128.0) / 255.0) as f32).collect()
    }
}

/// A smooth random `h×w` field in [0, 1]: three octaves of random grids with 3, 5 and 9
/// control points per side (amplitudes 1, ½, ¼), each stretched bilinearly over the image,
/// summed and rescaled to span [0, 1].
fn smooth_field(h: usize, w: usize, rng: &mut SeededRng) -> Vec<f32> {
    let mut field = vec![0f32; h * w];
    for (g, amp) in [(3usize, 1.0f32), (5, 0.5), (9, 0.25)] {
        let grid: Vec<f32> = (0..g * g).map(|_| rng.uniform() as f32).collect();
        let to_grid = |k: usize, n: usize| {
            if n > 1 {
                k as f64 * (g - 1) as f64 / (n - 1) as f64
            } else {
                0.0
            }
        };
        for i in 0..h {
            for j in 0..w {
                field[i * w + j] +=
                    amp * bilinear_clamped(&grid, g, g, to_grid(i, h), to_grid(j, w));
            }
        }
    }
    let lo = field.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = field.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi > lo {
        field.iter_mut().for_each(|v| *v = (*v - lo) / (hi - lo));
    } else {
        field.fill(0.5);
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test images: a smooth gradient (direction and channel tint vary with `k`), a
    /// contrasting square at a `k`-dependent place and a faint stripe texture.
    fn test_image(c: usize, h: usize, w: usize, k: usize) -> Vec<f32> {
        let mut x = Vec::with_capacity(c * h * w);
        let (dy, dx) = ([0.3, 0.7, 0.5, 0.1][k % 4], [0.6, 0.2, -0.4, 0.8][k % 4]);
        let (sy, sx, side) = ((3 * k + 2) % (h / 2), (5 * k + 4) % (w / 2), h / 3);
        for ch in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let g = 0.2
                        + 0.5
                            * (dy * i as f32 / h as f32
                                + dx * j as f32 / w as f32
                                + 0.1 * ch as f32)
                                .rem_euclid(1.0);
                    let stripe = 0.08 * ((j + 2 * i + k) % 4) as f32 / 3.0;
                    let inside = (sy..sy + side).contains(&i) && (sx..sx + side).contains(&j);
                    let v = if inside {
                        [0.95, 0.05, 0.8][(ch + k) % 3]
                    } else {
                        g + stripe
                    };
                    x.push(v.clamp(0.0, 1.0));
                }
            }
        }
        x
    }

    fn mse(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(p, q)| f64::from(p - q).powi(2))
            .sum::<f64>()
            / a.len() as f64
    }

    const SHAPES: [[usize; 3]; 3] = [[1, 28, 28], [3, 32, 32], [2, 13, 10]];

    #[test]
    fn every_kind_and_severity_keeps_shape_range_and_seed() {
        for shape in SHAPES {
            let [c, h, w] = shape;
            let x = test_image(c, h, w, 1);
            for kind in Corruption::ALL {
                for s in 1..=5 {
                    let y = corrupt(&x, shape, kind, s, 9).unwrap();
                    assert_eq!(y.len(), x.len());
                    assert!(
                        y.iter().all(|v| (0.0..=1.0).contains(v)),
                        "{kind} {s} {shape:?}"
                    );
                    assert_ne!(y, x, "{kind} {s} {shape:?} changed nothing");
                    assert_eq!(y, corrupt(&x, shape, kind, s, 9).unwrap());
                }
            }
        }
        // Extreme inputs stay in range too.
        for fill in [0.0, 1.0] {
            let x = vec![fill; 3 * 8 * 8];
            for kind in Corruption::ALL {
                let y = corrupt(&x, [3, 8, 8], kind, 5, 1).unwrap();
                assert!(y.iter().all(|v| (0.0..=1.0).contains(v)), "{kind}");
            }
        }
    }

    #[test]
    fn random_kinds_depend_on_the_seed() {
        let x = test_image(3, 32, 32, 2);
        for kind in [
            Corruption::GaussianNoise,
            Corruption::ShotNoise,
            Corruption::ImpulseNoise,
            Corruption::MotionBlur,
            Corruption::Fog,
        ] {
            let a = corrupt(&x, [3, 32, 32], kind, 3, 1).unwrap();
            let b = corrupt(&x, [3, 32, 32], kind, 3, 2).unwrap();
            assert_ne!(a, b, "{kind}");
        }
    }

    #[test]
    fn distance_grows_with_severity() {
        for shape in SHAPES {
            let [c, h, w] = shape;
            let images: Vec<Vec<f32>> = (0..4).map(|k| test_image(c, h, w, k)).collect();
            for kind in Corruption::ALL {
                let dist: Vec<f64> = (1..=5)
                    .map(|s| {
                        let mut total = 0.0;
                        for (k, x) in images.iter().enumerate() {
                            for seed in 0..3 {
                                let y = corrupt(x, shape, kind, s, seed * 10 + k as u64).unwrap();
                                total += mse(x, &y);
                            }
                        }
                        total
                    })
                    .collect();
                for s in 0..4 {
                    assert!(dist[s + 1] > dist[s], "{kind} {shape:?}: {dist:?}");
                }
                assert!(dist[4] > 1.5 * dist[0], "{kind} {shape:?}: {dist:?}");
            }
        }
    }

    #[test]
    fn brightness_raises_the_mean_and_contrast_lowers_the_spread() {
        let std = |x: &[f32]| {
            let m = mean(x);
            (x.iter().map(|v| (v - m).powi(2)).sum::<f32>() / x.len() as f32).sqrt()
        };
        for shape in SHAPES {
            let [c, h, w] = shape;
            let x = test_image(c, h, w, 3);
            let (mut last_mean, mut last_std) = (mean(&x), std(&x));
            for s in 1..=5 {
                let b = corrupt(&x, shape, Corruption::Brightness, s, 0).unwrap();
                assert!(mean(&b) > last_mean);
                assert!(b.iter().zip(&x).all(|(p, q)| p >= q));
                last_mean = mean(&b);
                let k = corrupt(&x, shape, Corruption::Contrast, s, 0).unwrap();
                assert!(std(&k) < last_std);
                assert!((mean(&k) - mean(&x)).abs() < 1e-5);
                last_std = std(&k);
            }
        }
        // Brightness keeps the hue of an RGB pixel: channel ratios are unchanged.
        let x = vec![0.2, 0.4, 0.1];
        let y = corrupt(&x, [3, 1, 1], Corruption::Brightness, 2, 0).unwrap();
        assert!((y[1] - 0.6).abs() < 1e-6);
        assert!((y[0] / y[1] - 0.5).abs() < 1e-6 && (y[2] / y[1] - 0.25).abs() < 1e-6);
    }

    #[test]
    fn pixelate_makes_blocks_constant() {
        let (c, h, w) = (3, 32, 30);
        let x = test_image(c, h, w, 0);
        for (s, b) in (1..=5).zip([2, 3, 4, 5, 6]) {
            let y = corrupt(&x, [c, h, w], Corruption::Pixelate, s, 0).unwrap();
            for ch in 0..c {
                for i in 0..h {
                    for j in 0..w {
                        let corner = ch * h * w + (i / b * b) * w + j / b * b;
                        assert_eq!(y[ch * h * w + i * w + j], y[corner]);
                    }
                }
            }
            // The block mean is preserved, so the channel mean is too.
            assert!((mean(&y) - mean(&x)).abs() < 1e-5);
        }
    }

    #[test]
    fn jpeg_like_keeps_blockwise_constant_images() {
        for (c, h, w) in [(1, 24, 24), (3, 32, 32), (1, 28, 28)] {
            // 28 is not a multiple of 8: the edge blocks are completed by replication.
            let x: Vec<f32> = (0..c * h * w)
                .map(|k| {
                    let (ch, i, j) = (k / (h * w), k / w % h, k % w);
                    ((i / 8 * 5 + j / 8 * 3 + ch * 7) % 11) as f32 / 10.0
                })
                .collect();
            for s in 1..=5 {
                let y = corrupt(&x, [c, h, w], Corruption::JpegLike, s, 0).unwrap();
                // Only the DC coefficient is rounded: every block stays constant, within the
                // DC step (Q₀₀ / 8 grey levels at quality 10, more after YCbCr).
                let tol = if c == 3 { 0.07 } else { 0.021 };
                let tol = if s == 1 { 0.003 * c as f32 } else { tol };
                for ch in 0..c {
                    for i in 0..h {
                        for j in 0..w {
                            let k = ch * h * w + i * w + j;
                            let corner = ch * h * w + (i / 8 * 8) * w + j / 8 * 8;
                            assert!((y[k] - y[corner]).abs() < 1e-4, "s{s}");
                            assert!((y[k] - x[k]).abs() <= tol, "s{s}: {} {}", y[k], x[k]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn dct_round_trips_without_quantisation() {
        let m = dct_matrix();
        let mut plane: Vec<f64> = (0..100).map(|k| ((k * 37) % 255) as f64 - 128.0).collect();
        let orig = plane.clone();
        quantise_plane(&mut plane, 10, 10, &[1e-9; 64], &m);
        assert!(plane.iter().zip(&orig).all(|(a, b)| (a - b).abs() < 1e-6));
        // M is orthonormal.
        for u in 0..8 {
            for v in 0..8 {
                let dot: f64 = (0..8).map(|x| m[u][x] * m[v][x]).sum();
                assert!((dot - if u == v { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn blurs_keep_constant_images_and_fog_brightens_dark_ones() {
        let x = vec![0.3f32; 2 * 9 * 7];
        for kind in [
            Corruption::GaussianBlur,
            Corruption::MotionBlur,
            Corruption::Pixelate,
        ] {
            for s in 1..=5 {
                let y = corrupt(&x, [2, 9, 7], kind, s, 4).unwrap();
                assert!(y.iter().all(|v| (v - 0.3).abs() < 1e-5), "{kind}");
            }
        }
        let dark = vec![0.1f32; 28 * 28];
        let y = corrupt(&dark, [1, 28, 28], Corruption::Fog, 3, 4).unwrap();
        assert!(y.iter().all(|&v| v > 0.1));
        // The haze varies smoothly across the image.
        let spread =
            y.iter().copied().fold(0f32, f32::max) - y.iter().copied().fold(1f32, f32::min);
        assert!(spread > 0.05);
    }

    #[test]
    fn impulse_noise_sets_about_p_of_the_values_to_extremes() {
        let x = vec![0.5f32; 3 * 32 * 32];
        let y = corrupt(&x, [3, 32, 32], Corruption::ImpulseNoise, 5, 1).unwrap();
        let salt = y.iter().filter(|&&v| v == 1.0).count() as f64 / x.len() as f64;
        let pepper = y.iter().filter(|&&v| v == 0.0).count() as f64 / x.len() as f64;
        assert!((salt - 0.085).abs() < 0.02 && (pepper - 0.085).abs() < 0.02);
        assert!(y.iter().all(|&v| v == 0.0 || v == 0.5 || v == 1.0));
    }

    #[test]
    fn shot_noise_is_unbiased_with_shrinking_spread() {
        let x = vec![0.4f32; 64 * 64];
        let mut last = f64::INFINITY;
        for s in (1..=5).rev() {
            let y = corrupt(&x, [1, 64, 64], Corruption::ShotNoise, s, 3).unwrap();
            assert!((f64::from(mean(&y)) - 0.4).abs() < 0.02, "s{s}");
            let var = mse(&x, &y);
            let lambda = [100.0, 50.0, 25.0, 12.0, 6.0][usize::from(s - 1)];
            assert!((var / (0.4 / lambda) - 1.0).abs() < 0.15, "s{s}: {var}");
            assert!(var < last);
            last = var;
        }
    }

    #[test]
    fn bad_severity_and_shape_are_errors() {
        let x = vec![0.5f32; 4];
        for s in [0u8, 6, 255] {
            let e = corrupt(&x, [1, 2, 2], Corruption::Fog, s, 0).unwrap_err();
            assert!(e.to_string().contains(&format!("severity {s}")), "{e}");
        }
        for kind in Corruption::ALL {
            assert_eq!(
                corrupt(&[], [3, 0, 4], kind, 2, 0).unwrap(),
                Vec::<f32>::new()
            );
        }
        assert!(matches!(
            corrupt(&x, [1, 3, 2], Corruption::Fog, 1, 0),
            Err(DataError::SizeMismatch { .. })
        ));
        let set = CorruptionSet {
            severities: vec![1, 6],
            ..CorruptionSet::default()
        };
        assert!(
            set.validate()
                .unwrap_err()
                .to_string()
                .contains("severity 6")
        );
        assert!(corrupt_batch(&x, [1, 2, 2], &set, 0).is_err());
        let empty = CorruptionSet {
            kinds: vec![],
            ..CorruptionSet::default()
        };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn names_round_trip_and_sets_partition() {
        for kind in Corruption::ALL {
            assert_eq!(kind.name().parse::<Corruption>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.name());
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<Corruption>(&json).unwrap(), kind);
        }
        let e = "snow".parse::<Corruption>().unwrap_err().to_string();
        assert!(
            e.contains("snow") && e.contains("jpeg-like") && e.contains("fog"),
            "{e}"
        );
        let inside = Corruption::in_distribution();
        assert_eq!(
            inside.len() + Corruption::HELD_OUT_DEFAULT.len(),
            Corruption::ALL.len()
        );
        assert!(
            inside
                .iter()
                .all(|k| !Corruption::HELD_OUT_DEFAULT.contains(k))
        );
        let set: CorruptionSet = serde_json::from_str(r#"{"kinds": ["fog", "contrast"]}"#).unwrap();
        assert_eq!(set.kinds, vec![Corruption::Fog, Corruption::Contrast]);
        assert_eq!(set.severities, vec![1, 2, 3, 4, 5]);
        assert!(serde_json::from_str::<CorruptionSet>(r#"{"kind": []}"#).is_err());
        assert_eq!(
            CorruptionSet::held_out().kinds,
            Corruption::HELD_OUT_DEFAULT.to_vec()
        );
    }

    #[test]
    fn batch_draws_a_kind_and_severity_per_example() {
        let shape = [1, 28, 28];
        let d = 28 * 28;
        let n = 60;
        let x: Vec<f32> = (0..n).flat_map(|k| test_image(1, 28, 28, k)).collect();
        let set = CorruptionSet::default();
        let (y, applied) = corrupt_batch(&x, shape, &set, 5).unwrap();
        assert_eq!(y.len(), x.len());
        assert_eq!(applied.len(), n);
        assert!(
            applied
                .iter()
                .all(|(k, s)| set.kinds.contains(k) && (1..=5).contains(s))
        );
        let kinds: std::collections::HashSet<_> = applied.iter().map(|a| a.0).collect();
        assert_eq!(kinds.len(), set.kinds.len(), "{applied:?}");
        assert_eq!(
            corrupt_batch(&x, shape, &set, 5).unwrap(),
            (y.clone(), applied.clone())
        );
        assert_ne!(corrupt_batch(&x, shape, &set, 6).unwrap().0, y);
        // Deterministic kinds can be checked against a direct call.
        for (k, &(kind, s)) in applied.iter().enumerate() {
            if matches!(
                kind,
                Corruption::Brightness | Corruption::Contrast | Corruption::JpegLike
            ) {
                let direct = corrupt(&x[k * d..(k + 1) * d], shape, kind, s, 0).unwrap();
                assert_eq!(direct[..], y[k * d..(k + 1) * d]);
            }
        }
        assert!(corrupt_batch(&x[..d + 1], shape, &set, 5).is_err());
        let (empty, none) = corrupt_batch(&[], shape, &set, 5).unwrap();
        assert!(empty.is_empty() && none.is_empty());
    }
}
