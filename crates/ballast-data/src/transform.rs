//! Random affine "RTS" (rotation, translation, scale) transforms of images in pixel space
//! ([0, 1], row-major `[C, H, W]` per example), as in the MNIST setting of Wong & Kolter
//! (2021), "Learning perturbation sets for robust machine learning": rotation uniform in
//! ±45°, scale uniform in [0.7, 1.3] and translation uniform in ±7 pixels per axis (the
//! shift range of a 28-pixel crop from the image zero-padded by 7 to 42×42).
//!
//! An [`Affine`] maps an input point `p` (column `x`, row `y`) to
//! `c + s·R(θ)·(p − c) + (tx, ty)`, where `c = ((W − 1)/2, (H − 1)/2)` is the image centre,
//! `s` the scale (> 1 enlarges), `R(θ)` a rotation that turns the image counter-clockwise as
//! displayed (row 0 at the top) for positive `θ`, and `tx` / `ty` shift right / down in
//! pixels. [`apply_affine`] fills each output pixel by mapping it back through the inverse
//! and interpolating bilinearly, with zeros outside the image. With the centre between the
//! middle pixels for even sizes, a 90° rotation or an integer shift moves pixels exactly.

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::rng::SeededRng;

/// Stream salt of [`rts_batch`] / [`RtsConfig::sample_many`].
const SALT_RTS: u64 = 0x7274_7320;

/// Ranges of the random RTS transform, as it appears in a config file (every field optional;
/// the defaults are Wong & Kolter's MNIST setting).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtsConfig {
    /// Rotation is uniform in `[-max_rotation_deg, max_rotation_deg]` degrees.
    pub max_rotation_deg: f32,
    /// Scale is uniform in `[scale[0], scale[1]]`.
    pub scale: [f32; 2],
    /// Each of `tx`, `ty` is uniform in `[-max_translation, max_translation]` pixels.
    pub max_translation: f32,
}

impl Default for RtsConfig {
    fn default() -> Self {
        Self {
            max_rotation_deg: 45.0,
            scale: [0.7, 1.3],
            max_translation: 7.0,
        }
    }
}

impl RtsConfig {
    /// Checks that every range is finite and well formed: rotation in `[0, 180]`, scale
    /// `0 < scale[0] <= scale[1]`, translation `>= 0`. The error names the bad field.
    pub fn validate(&self) -> Result<(), DataError> {
        let r = self.max_rotation_deg;
        if !(r.is_finite() && (0.0..=180.0).contains(&r)) {
            return Err(DataError::InvalidArgument(format!(
                "max_rotation_deg must lie in [0, 180], got {r}"
            )));
        }
        let [lo, hi] = self.scale;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(DataError::InvalidArgument(format!(
                "scale must be finite with 0 < scale[0] <= scale[1], got [{lo}, {hi}]"
            )));
        }
        let t = self.max_translation;
        if !(t.is_finite() && t >= 0.0) {
            return Err(DataError::InvalidArgument(format!(
                "max_translation must be finite and non-negative, got {t}"
            )));
        }
        Ok(())
    }

    /// One transform drawn from the ranges: rotation, scale, `tx`, `ty`, in that order.
    pub(crate) fn sample(&self, rng: &mut SeededRng) -> Affine {
        let r = f64::from(self.max_rotation_deg);
        let t = f64::from(self.max_translation);
        Affine {
            rotation_deg: rng.uniform_in(-r, r) as f32,
            scale: rng.uniform_in(f64::from(self.scale[0]), f64::from(self.scale[1])) as f32,
            tx: rng.uniform_in(-t, t) as f32,
            ty: rng.uniform_in(-t, t) as f32,
        }
    }

    /// `n` independent transforms from one stream for `seed`: the transforms that
    /// [`rts_batch`] with the same seed applies to a batch of `n` examples.
    pub fn sample_many(&self, n: usize, seed: u64) -> Vec<Affine> {
        let mut rng = SeededRng::new(seed, SALT_RTS);
        (0..n).map(|_| self.sample(&mut rng)).collect()
    }
}

/// One affine transform about the image centre (see the module docs for the convention).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Affine {
    /// Counter-clockwise rotation (as displayed) in degrees.
    pub rotation_deg: f32,
    /// Scale factor; > 1 enlarges the content.
    pub scale: f32,
    /// Shift to the right in pixels.
    pub tx: f32,
    /// Shift down in pixels.
    pub ty: f32,
}

impl Affine {
    /// The transform that leaves every image unchanged.
    pub const IDENTITY: Affine = Affine {
        rotation_deg: 0.0,
        scale: 1.0,
        tx: 0.0,
        ty: 0.0,
    };
}

impl Default for Affine {
    fn default() -> Self {
        Self::IDENTITY
    }
}

/// Source coordinates closer than this to an integer are snapped to it, so that exact
/// rotations by multiples of 90° and integer shifts copy pixels without rounding noise.
const SNAP: f64 = 1e-9;

fn snap(v: f64) -> f64 {
    let r = v.round();
    if (v - r).abs() < SNAP { r } else { v }
}

/// `image` (`[C, H, W]`) transformed by `a`: every channel is resampled through the same
/// inverse map with bilinear interpolation, reading zeros outside the image. The output has
/// the input's shape and stays within the input's value range (zeros included).
///
/// # Panics
/// If `image.len() != C·H·W` or `a.scale` is not a positive finite number.
pub fn apply_affine(image: &[f32], shape: [usize; 3], a: &Affine) -> Vec<f32> {
    let [c, h, w] = shape;
    assert_eq!(
        image.len(),
        c * h * w,
        "image length {} does not match shape {shape:?}",
        image.len()
    );
    assert!(
        a.scale.is_finite() && a.scale > 0.0,
        "affine scale must be positive and finite, got {}",
        a.scale
    );
    if *a == Affine::IDENTITY {
        return image.to_vec();
    }
    let plane = h * w;
    let mut out = vec![0f32; image.len()];
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let theta = f64::from(a.rotation_deg).to_radians();
    let (sin, cos) = theta.sin_cos();
    let inv_s = 1.0 / f64::from(a.scale);
    let (tx, ty) = (f64::from(a.tx), f64::from(a.ty));
    for i in 0..h {
        for j in 0..w {
            // Output offset from the centre, with v pointing up so that positive angles turn
            // counter-clockwise on screen; then undo the translation, rotation and scale.
            let u = j as f64 - cx - tx;
            let v = cy - (i as f64 - ty);
            let us = (cos * u + sin * v) * inv_s;
            let vs = (-sin * u + cos * v) * inv_s;
            let (col, row) = (snap(cx + us), snap(cy - vs));
            let (r0, q0) = (row.floor(), col.floor());
            let (fr, fq) = ((row - r0) as f32, (col - q0) as f32);
            let (r0, q0) = (r0 as isize, q0 as isize);
            let taps = [
                (r0, q0, (1.0 - fr) * (1.0 - fq)),
                (r0, q0 + 1, (1.0 - fr) * fq),
                (r0 + 1, q0, fr * (1.0 - fq)),
                (r0 + 1, q0 + 1, fr * fq),
            ];
            for (r, q, wt) in taps {
                if wt == 0.0 || r < 0 || q < 0 || r >= h as isize || q >= w as isize {
                    continue;
                }
                let src = r as usize * w + q as usize;
                for ch in 0..c {
                    out[ch * plane + i * w + j] += wt * image[ch * plane + src];
                }
            }
        }
    }
    out
}

/// Applies one independent random RTS transform per example to `x` (`[n, C·H·W]`, one
/// example after another) in place and returns the transforms, in example order. All draws
/// come from one stream for `seed`, so a step's batch is reproducible and
/// `cfg.sample_many(n, seed)` returns the same transforms. Outputs are clamped to `[0, 1]`.
///
/// # Panics
/// If `x.len()` is not a multiple of `C·H·W`, or `cfg` allows a non-positive scale (check
/// [`RtsConfig::validate`] when the config comes from a user).
pub fn rts_batch(x: &mut [f32], shape: [usize; 3], cfg: &RtsConfig, seed: u64) -> Vec<Affine> {
    let [c, h, w] = shape;
    let d = c * h * w;
    if d == 0 {
        return Vec::new();
    }
    assert_eq!(
        x.len() % d,
        0,
        "batch length {} is not a multiple of {d}",
        x.len()
    );
    let affines = cfg.sample_many(x.len() / d, seed);
    for (example, a) in x.chunks_exact_mut(d).zip(&affines) {
        let y = apply_affine(example, shape, a);
        for (dst, v) in example.iter_mut().zip(y) {
            *dst = v.clamp(0.0, 1.0);
        }
    }
    affines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random image in [0, 1].
    fn image(c: usize, h: usize, w: usize, salt: u64) -> Vec<f32> {
        let mut rng = SeededRng::new(salt, 99);
        (0..c * h * w).map(|_| rng.uniform() as f32).collect()
    }

    fn shift(tx: f32, ty: f32) -> Affine {
        Affine {
            tx,
            ty,
            ..Affine::IDENTITY
        }
    }

    #[test]
    fn identity_is_exact() {
        let x = image(3, 7, 6, 1);
        assert_eq!(apply_affine(&x, [3, 7, 6], &Affine::IDENTITY), x);
        // A zero rotation written differently still copies exactly.
        let a = Affine {
            rotation_deg: -0.0,
            ..Affine::IDENTITY
        };
        let y = apply_affine(&x, [3, 7, 6], &a);
        assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= 1e-6));
        // A full turn is the identity up to rounding.
        let a = Affine {
            rotation_deg: 360.0,
            ..Affine::IDENTITY
        };
        let y = apply_affine(&x, [3, 7, 6], &a);
        assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= 1e-5));
    }

    #[test]
    fn quarter_turns_rotate_pixels_exactly() {
        for n in [5usize, 6] {
            let x = image(1, n, n, n as u64);
            let ccw = Affine {
                rotation_deg: 90.0,
                ..Affine::IDENTITY
            };
            let y = apply_affine(&x, [1, n, n], &ccw);
            let cw = apply_affine(
                &x,
                [1, n, n],
                &Affine {
                    rotation_deg: -90.0,
                    ..Affine::IDENTITY
                },
            );
            let half = apply_affine(
                &x,
                [1, n, n],
                &Affine {
                    rotation_deg: 180.0,
                    ..Affine::IDENTITY
                },
            );
            for i in 0..n {
                for j in 0..n {
                    // Counter-clockwise on screen: the top-right corner moves to the top-left.
                    assert!((y[i * n + j] - x[j * n + (n - 1 - i)]).abs() <= 1e-6);
                    assert!((cw[i * n + j] - x[(n - 1 - j) * n + i]).abs() <= 1e-6);
                    let want = x[(n - 1 - i) * n + (n - 1 - j)];
                    assert!((half[i * n + j] - want).abs() <= 1e-6);
                }
            }
        }
    }

    #[test]
    fn integer_translation_shifts_with_zero_fill() {
        let (c, h, w) = (2, 5, 7);
        let x = image(c, h, w, 3);
        for (tx, ty) in [(2isize, 0isize), (0, -1), (-3, 2), (7, 0), (1, 1)] {
            let y = apply_affine(&x, [c, h, w], &shift(tx as f32, ty as f32));
            for ch in 0..c {
                for i in 0..h as isize {
                    for j in 0..w as isize {
                        let (r, q) = (i - ty, j - tx);
                        let want = if (0..h as isize).contains(&r) && (0..w as isize).contains(&q) {
                            x[ch * h * w + (r * w as isize + q) as usize]
                        } else {
                            0.0
                        };
                        assert_eq!(y[ch * h * w + (i * w as isize + j) as usize], want);
                    }
                }
            }
        }
    }

    #[test]
    fn half_pixel_shift_averages_neighbours() {
        let x = vec![0.0, 1.0, 0.5, 0.5];
        let y = apply_affine(&x, [1, 1, 4], &shift(0.5, 0.0));
        // Column j reads column j − 0.5; column 0 blends the zero outside with x[0].
        assert_eq!(y, vec![0.0, 0.5, 0.75, 0.5]);
    }

    #[test]
    fn scale_about_the_centre() {
        // Doubling a 1-pixel-wide vertical line in the middle of a 5-wide image.
        let (h, w) = (5, 5);
        let mut x = vec![0f32; h * w];
        for i in 0..h {
            x[i * w + 2] = 1.0;
        }
        let a = Affine {
            scale: 2.0,
            ..Affine::IDENTITY
        };
        let y = apply_affine(&x, [1, h, w], &a);
        for i in 0..h {
            let row = &y[i * w..(i + 1) * w];
            // Output column j reads source column 2 + (j − 2)/2.
            assert_eq!(row, &[0.0, 0.5, 1.0, 0.5, 0.0]);
        }
    }

    #[test]
    fn outputs_stay_in_unit_interval_and_channels_move_together() {
        let (c, h, w) = (3, 9, 8);
        let single = image(1, h, w, 5);
        // Three channels: the image, its complement and a scaled copy.
        let mut x = single.clone();
        x.extend(single.iter().map(|v| 1.0 - v));
        x.extend(single.iter().map(|v| 0.5 * v));
        let cfg = RtsConfig::default();
        for a in cfg.sample_many(50, 11) {
            let y = apply_affine(&x, [c, h, w], &a);
            assert!(y.iter().all(|v| (0.0..=1.0).contains(v)), "{a:?}");
            let y0 = apply_affine(&single, [1, h, w], &a);
            let ones = apply_affine(&vec![1.0; h * w], [1, h, w], &a);
            for p in 0..h * w {
                assert!((y[p] - y0[p]).abs() <= 1e-6);
                // Bilinear weights are linear, so 1 − x maps to (coverage − y0).
                assert!((y[h * w + p] - (ones[p] - y0[p])).abs() <= 1e-5);
                assert!((y[2 * h * w + p] - 0.5 * y0[p]).abs() <= 1e-6);
            }
        }
    }

    #[test]
    fn sampled_parameters_lie_in_range() {
        let cfg = RtsConfig {
            max_rotation_deg: 30.0,
            scale: [0.8, 1.1],
            max_translation: 3.0,
        };
        let a = cfg.sample_many(2000, 4);
        assert!(a.iter().all(|a| {
            a.rotation_deg.abs() <= 30.0
                && (0.8..=1.1).contains(&a.scale)
                && a.tx.abs() <= 3.0
                && a.ty.abs() <= 3.0
        }));
        // The ranges are actually used, not just respected.
        let max_rot = a.iter().map(|a| a.rotation_deg).fold(f32::MIN, f32::max);
        let min_rot = a.iter().map(|a| a.rotation_deg).fold(f32::MAX, f32::min);
        assert!(max_rot > 29.0 && min_rot < -29.0);
        let max_s = a.iter().map(|a| a.scale).fold(f32::MIN, f32::max);
        let min_s = a.iter().map(|a| a.scale).fold(f32::MAX, f32::min);
        assert!(max_s > 1.09 && min_s < 0.81);
        // A degenerate config gives the identity.
        let none = RtsConfig {
            max_rotation_deg: 0.0,
            scale: [1.0, 1.0],
            max_translation: 0.0,
        };
        assert!(
            none.sample_many(5, 1)
                .iter()
                .all(|a| *a == Affine::IDENTITY)
        );
    }

    #[test]
    fn batch_is_seeded_and_independent_per_example() {
        let (c, h, w, n) = (1, 28, 28, 6);
        let one = image(c, h, w, 8);
        let x: Vec<f32> = (0..n).flat_map(|_| one.clone()).collect();
        let cfg = RtsConfig::default();
        let mut a = x.clone();
        let ta = rts_batch(&mut a, [c, h, w], &cfg, 21);
        let mut b = x.clone();
        let tb = rts_batch(&mut b, [c, h, w], &cfg, 21);
        let mut other = x.clone();
        rts_batch(&mut other, [c, h, w], &cfg, 22);
        assert_eq!(a, b);
        assert_eq!(ta, tb);
        assert_eq!(ta, cfg.sample_many(n, 21));
        assert_ne!(a, other);
        // Equal inputs, different transforms per example.
        let d = c * h * w;
        assert_ne!(a[..d], a[d..2 * d]);
        for (k, t) in ta.iter().enumerate() {
            assert_eq!(a[k * d..(k + 1) * d], apply_affine(&one, [c, h, w], t)[..]);
        }
    }

    #[test]
    fn config_defaults_serde_and_validation() {
        let cfg = RtsConfig::default();
        assert_eq!(
            (cfg.max_rotation_deg, cfg.scale, cfg.max_translation),
            (45.0, [0.7, 1.3], 7.0)
        );
        cfg.validate().unwrap();
        let parsed: RtsConfig = serde_json::from_str(r#"{"max_translation": 3.0}"#).unwrap();
        assert_eq!(
            parsed,
            RtsConfig {
                max_translation: 3.0,
                ..cfg
            }
        );
        assert!(serde_json::from_str::<RtsConfig>(r#"{"rotation": 3.0}"#).is_err());
        let bad = |c: RtsConfig, field: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        };
        bad(
            RtsConfig {
                max_rotation_deg: -1.0,
                ..cfg
            },
            "max_rotation_deg",
        );
        bad(
            RtsConfig {
                scale: [1.2, 0.9],
                ..cfg
            },
            "scale",
        );
        bad(
            RtsConfig {
                scale: [0.0, 1.0],
                ..cfg
            },
            "scale",
        );
        bad(
            RtsConfig {
                max_translation: f32::NAN,
                ..cfg
            },
            "max_translation",
        );
    }
}
