//! Seeded 2-D toy classification sets for quick experiments and the web demo.
//!
//! Every generator takes `(n, noise, seed)` (plus a class count where it has
//! one), returns a [`Dataset`] with example shape `[2]`, assigns example `i`
//! to class `i mod k` (so classes are balanced to within one example), and
//! adds isotropic Gaussian noise with standard deviation `noise` to each point.

use core::f64::consts::{PI, TAU};

use crate::rng::SeededRng;
use crate::{DataError, Dataset};

/// Two interleaving half circles: class 0 is the upper moon `(cos t, sin t)`,
/// class 1 the lower moon `(1 − cos t, 0.5 − sin t)`, `t ~ U(0, π)`.
pub fn moons(n: usize, noise: f32, seed: u64) -> Result<Dataset, DataError> {
    check_noise(noise)?;
    let mut rng = SeededRng::new(seed, 0);
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as u32;
        let t = PI * rng.uniform();
        let (px, py) = if class == 0 {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 0.5 - t.sin())
        };
        push_noisy(&mut x, &mut rng, px, py, noise);
        labels.push(class);
    }
    Dataset::new(x, vec![2], labels, 2, "moons")
}

/// `arms` interleaved spirals, one class per arm. A point at radius
/// `r ~ U(0, 1)` on arm `a` sits at angle `2π·a/arms + 3π·r` (1.5 turns).
pub fn spirals(n: usize, arms: usize, noise: f32, seed: u64) -> Result<Dataset, DataError> {
    check_noise(noise)?;
    check_k(arms, "spiral arms")?;
    let mut rng = SeededRng::new(seed, 0);
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let arm = i % arms;
        let r = rng.uniform();
        let angle = TAU * arm as f64 / arms as f64 + 3.0 * PI * r;
        push_noisy(&mut x, &mut rng, r * angle.cos(), r * angle.sin(), noise);
        labels.push(arm as u32);
    }
    Dataset::new(x, vec![2], labels, arms, format!("spirals-{arms}"))
}

/// `classes` Gaussian blobs with centres evenly spaced on a circle of radius 3
/// and standard deviation `noise`.
pub fn blobs(n: usize, classes: usize, noise: f32, seed: u64) -> Result<Dataset, DataError> {
    check_noise(noise)?;
    check_k(classes, "blob classes")?;
    let mut rng = SeededRng::new(seed, 0);
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % classes;
        let angle = TAU * class as f64 / classes as f64;
        push_noisy(
            &mut x,
            &mut rng,
            3.0 * angle.cos(),
            3.0 * angle.sin(),
            noise,
        );
        labels.push(class as u32);
    }
    Dataset::new(x, vec![2], labels, classes, format!("blobs-{classes}"))
}

fn push_noisy(x: &mut Vec<f32>, rng: &mut SeededRng, px: f64, py: f64, noise: f32) {
    let s = f64::from(noise);
    x.push((px + s * rng.normal()) as f32);
    x.push((py + s * rng.normal()) as f32);
}

fn check_noise(noise: f32) -> Result<(), DataError> {
    if noise.is_finite() && noise >= 0.0 {
        Ok(())
    } else {
        Err(DataError::InvalidArgument(format!(
            "noise must be a finite non-negative standard deviation, got {noise}"
        )))
    }
}

fn check_k(k: usize, what: &str) -> Result<(), DataError> {
    if k == 0 || k > u32::MAX as usize {
        Err(DataError::InvalidArgument(format!(
            "number of {what} must be at least 1, got {k}"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_balance_and_determinism() {
        let sets = [
            moons(101, 0.1, 1).unwrap(),
            spirals(99, 3, 0.05, 1).unwrap(),
            blobs(100, 4, 0.5, 1).unwrap(),
        ];
        for d in &sets {
            assert_eq!(d.example_shape, vec![2]);
            assert_eq!(d.x.len(), 2 * d.len());
            let counts = d.class_counts();
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(hi - lo <= 1, "{counts:?}");
            assert!(d.x.iter().all(|v| v.is_finite()));
        }
        assert_eq!(moons(50, 0.1, 7).unwrap(), moons(50, 0.1, 7).unwrap());
        assert_ne!(moons(50, 0.1, 7).unwrap().x, moons(50, 0.1, 8).unwrap().x);
        assert_eq!(
            spirals(50, 2, 0.1, 7).unwrap(),
            spirals(50, 2, 0.1, 7).unwrap()
        );
        assert_ne!(
            blobs(50, 2, 0.1, 7).unwrap().x,
            blobs(50, 2, 0.1, 8).unwrap().x
        );
    }

    #[test]
    fn noiseless_points_lie_on_their_curves() {
        let m = moons(200, 0.0, 3).unwrap();
        for i in 0..m.len() {
            let [px, py] = [f64::from(m.x[2 * i]), f64::from(m.x[2 * i + 1])];
            let (cx, cy) = if m.labels[i] == 0 {
                (0.0, 0.0)
            } else {
                (1.0, 0.5)
            };
            assert!(((px - cx).hypot(py - cy) - 1.0).abs() < 1e-5);
            assert!(if m.labels[i] == 0 {
                py >= 0.0
            } else {
                py <= 0.5
            });
        }
        let s = spirals(100, 2, 0.0, 3).unwrap();
        assert!(
            s.x.chunks(2)
                .all(|p| f64::from(p[0]).hypot(f64::from(p[1])) <= 1.0 + 1e-6)
        );
    }

    #[test]
    fn blobs_cluster_around_their_centres() {
        let b = blobs(4000, 4, 0.3, 5).unwrap();
        for c in 0..4 {
            let pts: Vec<&[f32]> = (0..b.len())
                .filter(|&i| b.labels[i] == c)
                .map(|i| b.example(i))
                .collect();
            let mean_x = pts.iter().map(|p| f64::from(p[0])).sum::<f64>() / pts.len() as f64;
            let mean_y = pts.iter().map(|p| f64::from(p[1])).sum::<f64>() / pts.len() as f64;
            let angle = TAU * f64::from(c) / 4.0;
            assert!((mean_x - 3.0 * angle.cos()).abs() < 0.05);
            assert!((mean_y - 3.0 * angle.sin()).abs() < 0.05);
        }
    }

    #[test]
    fn invalid_arguments() {
        assert!(moons(10, -0.1, 0).is_err());
        assert!(moons(10, f32::NAN, 0).is_err());
        assert!(spirals(10, 0, 0.1, 0).is_err());
        assert!(blobs(10, 0, 0.1, 0).is_err());
        assert_eq!(moons(0, 0.1, 0).unwrap().len(), 0);
    }
}
