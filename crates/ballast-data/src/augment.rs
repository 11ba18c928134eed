//! Training-time augmentation of image batches in pixel space ([0, 1], row-major `[C, H, W]`
//! per example): the standard CIFAR recipe of a random crop from the zero-padded image
//! (torchvision's `RandomCrop(32, padding=4)`) and a random horizontal flip.

use crate::rng::SeededRng;
use serde::{Deserialize, Serialize};

/// Which augmentation `[data] augment` applies to every training batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Augment {
    /// None (the default).
    #[default]
    None,
    /// Random crop from the image zero-padded by `padding` pixels on each side.
    Crop,
    /// Random crop as above, then a horizontal flip with probability ½.
    CropFlip,
    /// Horizontal flip with probability ½.
    Flip,
}

impl Augment {
    pub fn is_none(self) -> bool {
        self == Self::None
    }
}

/// How the image is padded before a random crop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PadMode {
    /// Zeros (torchvision's `RandomCrop(32, padding=4)`).
    #[default]
    Zero,
    /// Mirror without repeating the edge (numpy's `reflect`; the cifar10-fast pipeline of
    /// Rice et al.).
    Reflect,
}

/// Source row/column of padded position `k` (in padded coordinates minus `padding`), or None
/// for a zero.
fn source(k: isize, n: usize, pad: PadMode) -> Option<usize> {
    let n = n as isize;
    if (0..n).contains(&k) {
        return Some(k as usize);
    }
    match pad {
        PadMode::Zero => None,
        PadMode::Reflect => {
            let r = if k < 0 { -k } else { 2 * (n - 1) - k };
            (0..n).contains(&r).then_some(r as usize)
        }
    }
}

/// Augments `x` ([n, C·H·W], one example after another) in place. `seed` picks the crop
/// offsets and flips (one stream per call, so a step's batch is reproducible).
pub fn augment_batch(
    x: &mut [f32],
    shape: [usize; 3],
    kind: Augment,
    padding: usize,
    pad: PadMode,
    seed: u64,
) {
    let [c, h, w] = shape;
    let d = c * h * w;
    if kind.is_none() || d == 0 {
        return;
    }
    assert_eq!(
        x.len() % d,
        0,
        "batch length {} is not a multiple of {d}",
        x.len()
    );
    let crop = matches!(kind, Augment::Crop | Augment::CropFlip);
    let flip = matches!(kind, Augment::Flip | Augment::CropFlip);
    let mut rng = SeededRng::new(seed, 0x6175_676d);
    let mut scratch = vec![0f32; d];
    for example in x.chunks_exact_mut(d) {
        // Offsets into the padded image: the crop starts at (dy, dx) ∈ [0, 2·padding]².
        let (dy, dx) = if crop {
            (rng.below(2 * padding + 1), rng.below(2 * padding + 1))
        } else {
            (padding, padding)
        };
        let mirrored = flip && rng.uniform() < 0.5;
        for ch in 0..c {
            for i in 0..h {
                // Row i of the crop is row i + dy − padding of the source (zero outside).
                let src_i = source(i as isize + dy as isize - padding as isize, h, pad);
                for j in 0..w {
                    let out_j = if mirrored { w - 1 - j } else { j };
                    let src_j = source(j as isize + dx as isize - padding as isize, w, pad);
                    scratch[ch * h * w + i * w + out_j] = match (src_i, src_j) {
                        (Some(r), Some(q)) => example[ch * h * w + r * w + q],
                        _ => 0.0,
                    };
                }
            }
        }
        example.copy_from_slice(&scratch);
    }
}

/// Cutout (DeVries & Taylor 2017, as in Rice et al.'s pipeline): per example, zero every
/// channel inside a `length`×`length` square centred on a uniform pixel, clipped at the
/// borders. `length` 0 leaves the batch alone.
pub fn cutout_batch(x: &mut [f32], shape: [usize; 3], length: usize, seed: u64) {
    let [c, h, w] = shape;
    let d = c * h * w;
    if length == 0 || d == 0 {
        return;
    }
    assert_eq!(
        x.len() % d,
        0,
        "batch length {} is not a multiple of {d}",
        x.len()
    );
    let mut rng = SeededRng::new(seed, 0x6375_746f);
    let half = length / 2;
    for example in x.chunks_exact_mut(d) {
        let (cy, cx) = (rng.below(h), rng.below(w));
        let (y0, y1) = (cy.saturating_sub(half), (cy + length - half).min(h));
        let (x0, x1) = (cx.saturating_sub(half), (cx + length - half).min(w));
        for ch in 0..c {
            for i in y0..y1 {
                example[ch * h * w + i * w + x0..ch * h * w + i * w + x1].fill(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_padding_mirrors_without_repeating_the_edge() {
        assert_eq!(source(-1, 5, PadMode::Reflect), Some(1));
        assert_eq!(source(-3, 5, PadMode::Reflect), Some(3));
        assert_eq!(source(5, 5, PadMode::Reflect), Some(3));
        assert_eq!(source(6, 5, PadMode::Reflect), Some(2));
        assert_eq!(source(2, 5, PadMode::Reflect), Some(2));
        assert_eq!(source(-1, 5, PadMode::Zero), None);
        // Every pixel of a reflect-padded crop comes from the image: no zeros appear.
        let (c, h, w) = (1, 6, 6);
        for seed in 0..20 {
            let mut y = ramp(c, h, w);
            augment_batch(&mut y, [c, h, w], Augment::Crop, 3, PadMode::Reflect, seed);
            assert!(y.iter().all(|&v| v > 0.0), "{y:?}");
        }
    }

    #[test]
    fn cutout_zeroes_one_clipped_square_per_example() {
        let (c, h, w, len) = (2, 9, 8, 4);
        for seed in 0..30 {
            let x = ramp(c, h, w);
            let mut y = x.clone();
            cutout_batch(&mut y, [c, h, w], len, seed);
            // The zeroed pixels of channel 0 form a rectangle of side <= len, the same in
            // every channel; everything else is untouched.
            let zero: Vec<(usize, usize)> = (0..h * w)
                .filter(|&p| y[p] == 0.0)
                .map(|p| (p / w, p % w))
                .collect();
            assert!(!zero.is_empty());
            let (i0, i1) = (
                zero.iter().map(|p| p.0).min().unwrap(),
                zero.iter().map(|p| p.0).max().unwrap(),
            );
            let (j0, j1) = (
                zero.iter().map(|p| p.1).min().unwrap(),
                zero.iter().map(|p| p.1).max().unwrap(),
            );
            assert!(i1 - i0 < len && j1 - j0 < len);
            assert_eq!(zero.len(), (i1 - i0 + 1) * (j1 - j0 + 1));
            for ch in 0..c {
                for p in 0..h * w {
                    let (i, j) = (p / w, p % w);
                    let inside = (i0..=i1).contains(&i) && (j0..=j1).contains(&j);
                    let v = y[ch * h * w + p];
                    assert_eq!(v, if inside { 0.0 } else { x[ch * h * w + p] });
                }
            }
        }
        let mut y = ramp(c, h, w);
        cutout_batch(&mut y, [c, h, w], 0, 1);
        assert_eq!(y, ramp(c, h, w));
    }

    fn ramp(c: usize, h: usize, w: usize) -> Vec<f32> {
        (0..c * h * w).map(|i| i as f32 + 1.0).collect()
    }

    #[test]
    fn none_and_zero_padding_crop_leave_the_batch_alone() {
        let x = ramp(3, 4, 5);
        let mut y = x.clone();
        augment_batch(&mut y, [3, 4, 5], Augment::None, 4, PadMode::Zero, 1);
        assert_eq!(x, y);
        augment_batch(&mut y, [3, 4, 5], Augment::Crop, 0, PadMode::Zero, 1);
        assert_eq!(x, y);
    }

    #[test]
    fn crop_is_a_shifted_copy_with_zero_fill() {
        let (c, h, w, pad) = (2, 6, 7, 2);
        for seed in 0..20 {
            let x = ramp(c, h, w);
            let mut y = x.clone();
            augment_batch(&mut y, [c, h, w], Augment::Crop, pad, PadMode::Zero, seed);
            // Recover the shift from a pixel that must survive any shift of at most pad.
            let centre = x[h / 2 * w + w / 2];
            let pos = y
                .iter()
                .position(|&v| v == centre)
                .expect("centre pixel kept");
            let (si, sj) = ((pos / w) as isize, (pos % w) as isize);
            let (oi, oj) = (si - (h / 2) as isize, sj - (w / 2) as isize);
            assert!(oi.abs() <= pad as isize && oj.abs() <= pad as isize);
            for ch in 0..c {
                for i in 0..h as isize {
                    for j in 0..w as isize {
                        let (r, q) = (i - oi, j - oj);
                        let want = if (0..h as isize).contains(&r) && (0..w as isize).contains(&q) {
                            x[ch * h * w + r as usize * w + q as usize]
                        } else {
                            0.0
                        };
                        assert_eq!(y[ch * h * w + i as usize * w + j as usize], want);
                    }
                }
            }
        }
    }

    #[test]
    fn flip_mirrors_about_half_the_examples_and_is_seeded() {
        let (c, h, w) = (1, 3, 4);
        let n = 400;
        let x: Vec<f32> = (0..n).flat_map(|_| ramp(c, h, w)).collect();
        let mut y = x.clone();
        augment_batch(&mut y, [c, h, w], Augment::Flip, 4, PadMode::Zero, 7);
        let mut flipped = 0;
        for (a, b) in x.chunks(h * w).zip(y.chunks(h * w)) {
            if a != b {
                flipped += 1;
                for i in 0..h {
                    for j in 0..w {
                        assert_eq!(b[i * w + j], a[i * w + w - 1 - j]);
                    }
                }
            }
        }
        assert!((150..250).contains(&flipped), "{flipped} of {n} flipped");
        let mut again = x.clone();
        augment_batch(&mut again, [c, h, w], Augment::Flip, 4, PadMode::Zero, 7);
        assert_eq!(y, again);
    }
}
