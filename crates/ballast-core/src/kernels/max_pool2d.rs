//! 2-D max-pooling on the CPU for f32 NCHW tensors: the arg-max of every window, the pooled
//! values (of the input, or of a tangent at the input's arg-max) and the vector-Jacobian
//! product (each output gradient added at its arg-max).
//!
//! Padded positions never win. A window's arg-max is its first maximum in row-major order;
//! a NaN wins over any number, and a later NaN over an earlier one (Burn's CPU rule, so that
//! both paths route a gradient to the same input). Each plane is copied into a buffer padded
//! with −∞ and split by stride phase, so every tap is one contiguous, branch-free (vectorised)
//! pass over all windows of the plane.

use rayon::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub batch: usize,
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Rows above and columns left of the input that windows may cover (never chosen).
    pub pad_begin: [usize; 2],
    pub out_h: usize,
    pub out_w: usize,
}

impl PoolGeometry {
    fn planes(&self) -> usize {
        self.batch * self.channels
    }

    fn plane_in(&self) -> usize {
        self.h * self.w
    }

    fn plane_out(&self) -> usize {
        self.out_h * self.out_w
    }

    /// The padded plane [Hp, Wp] the windows read.
    fn padded(&self) -> (usize, usize) {
        let span = |axis: usize, out: usize| {
            (out.max(1) - 1) * self.stride[axis] + (self.kernel[axis] - 1) * self.dilation[axis] + 1
        };
        (span(0, self.out_h), span(1, self.out_w))
    }

    /// The plane split into stride phases: phase (rh, rw) holds padded rows rh, rh + sh, …
    /// and columns rw, rw + sw, …, so a tap reads one contiguous run for every window.
    /// (phase rows hq, phase row length wq).
    fn phases(&self) -> (usize, usize) {
        let (hp, wp) = self.padded();
        ((hp - 1) / self.stride[0] + 1, (wp - 1) / self.stride[1] + 1)
    }

    /// Per window (laid out [H_out, wq], columns ≥ W_out unused), the number ty·kw + tx of
    /// its first tap inside the input: its arg-max when every value is −∞.
    fn first_valid_taps(&self) -> Vec<u32> {
        let (_, wq) = self.phases();
        let first = |axis: usize, o: usize| {
            let size = if axis == 0 { self.h } else { self.w };
            (0..self.kernel[axis])
                .find(|&t| {
                    let i = o * self.stride[axis] + t * self.dilation[axis];
                    i >= self.pad_begin[axis] && i - self.pad_begin[axis] < size
                })
                .unwrap_or(0)
        };
        let mut taps = vec![0u32; self.out_h * wq];
        for oy in 0..self.out_h {
            for ox in 0..self.out_w {
                taps[oy * wq + ox] = (first(0, oy) * self.kernel[1] + first(1, ox)) as u32;
            }
        }
        taps
    }
}

/// Per-thread buffers: the phased plane, the running maxima and arg-max taps.
#[derive(Default)]
struct Scratch {
    phased: Vec<f32>,
    max: Vec<f32>,
    tap: Vec<u32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// One tap for every window: where `src` (the tap's value per window) beats the running
/// maximum (greater, or NaN), it becomes the maximum and `t` the arg-max tap.
#[inline(always)]
fn select_max_body(max: &mut [f32], tap: &mut [u32], src: &[f32], t: u32) {
    for ((m, b), &v) in max.iter_mut().zip(tap.iter_mut()).zip(src) {
        let take = (v > *m) | v.is_nan();
        *m = if take { v } else { *m };
        *b = if take { t } else { *b };
    }
}

/// [`select_max_body`] compiled for AVX2 (vector blends) where the CPU has it; the
/// baseline x86-64 build would turn the selects into per-lane branches.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn select_max_avx2(max: &mut [f32], tap: &mut [u32], src: &[f32], t: u32) {
    select_max_body(max, tap, src, t)
}

fn select_max(max: &mut [f32], tap: &mut [u32], src: &[f32], t: u32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { select_max_avx2(max, tap, src, t) };
    }
    select_max_body(max, tap, src, t)
}

/// (max, arg-max as a flat index h·W + w into the plane) of every window of one plane.
fn plane_argmax(
    g: &PoolGeometry,
    plane: &[f32],
    first_taps: &[u32],
    out: &mut [f32],
    arg: &mut [u32],
) {
    let (hq, wq) = g.phases();
    let ([pt, pl], [sh, sw], [dh, dw], [kh, kw]) = (g.pad_begin, g.stride, g.dilation, g.kernel);
    let (ho, wo) = (g.out_h, g.out_w);
    let len = ho * wq; // windows, with wq − W_out unused columns per row
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        // The phased plane, −∞ wherever the padding is, plus one row of slack for the unused
        // columns of the last row.
        s.phased.clear();
        s.phased.resize(sh * sw * hq * wq + wq, f32::NEG_INFINITY);
        let phased = &mut s.phased[..];
        for y in 0..g.h {
            let py = y + pt;
            if py >= hq * sh {
                break;
            }
            let row = &mut phased[((py % sh) * sw * hq + py / sh) * wq..];
            let src = &plane[y * g.w..][..g.w];
            for rw in 0..sw {
                // Input columns x with (x + pl) mod sw = rw, at phase column (x + pl) / sw.
                let x0 = (rw + sw - pl % sw) % sw;
                let q0 = (x0 + pl) / sw;
                let count =
                    g.w.saturating_sub(x0)
                        .div_ceil(sw)
                        .min(wq.saturating_sub(q0));
                let dst = &mut row[rw * hq * wq + q0..][..count];
                for (q, d) in dst.iter_mut().enumerate() {
                    *d = src[x0 + q * sw];
                }
            }
        }
        s.max.clear();
        s.max.resize(len, f32::NEG_INFINITY);
        s.tap.clear();
        s.tap.extend_from_slice(first_taps);
        let (max, tap) = (&mut s.max[..], &mut s.tap[..len]);
        // Taps in row-major order, each one contiguous pass over all windows: branch-free
        // selects the compiler vectorises.
        for ty in 0..kh {
            let (rh, qy) = ((ty * dh) % sh, (ty * dh) / sh);
            for tx in 0..kw {
                let (rw, qx) = ((tx * dw) % sw, (tx * dw) / sw);
                let start = ((rh * sw + rw) * hq + qy) * wq + qx;
                let src = &phased[start..start + len];
                select_max(max, tap, src, (ty * kw + tx) as u32);
            }
        }
        // Tap number -> its offset in the padded plane's rows and columns.
        let tap_dy: Vec<usize> = (0..kh * kw).map(|t| (t / kw) * dh).collect();
        let tap_dx: Vec<usize> = (0..kh * kw).map(|t| (t % kw) * dw).collect();
        for oy in 0..ho {
            for ox in 0..wo {
                let (e, o) = (oy * wq + ox, oy * wo + ox);
                let t = tap[e] as usize;
                let iy = (oy * sh + tap_dy[t]).saturating_sub(pt).min(g.h - 1);
                let ix = (ox * sw + tap_dx[t]).saturating_sub(pl).min(g.w - 1);
                out[o] = max[e];
                arg[o] = (iy * g.w + ix) as u32;
            }
        }
    });
}

/// (y [B, C, H_out, W_out], arg-max [B, C, H_out, W_out]): the maximum of each window of
/// x [B, C, H, W] and its flat index h·W + w within its plane.
pub fn forward(g: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    assert_eq!(x.len(), g.planes() * g.plane_in(), "max_pool2d: input size");
    let first_taps = g.first_valid_taps();
    let out = g.plane_out().max(1);
    let mut y = vec![0.0f32; g.planes() * g.plane_out()];
    let mut arg = vec![0u32; g.planes() * g.plane_out()];
    y.par_chunks_mut(out)
        .zip(arg.par_chunks_mut(out))
        .zip(x.par_chunks(g.plane_in().max(1)))
        .for_each(|((y, arg), plane)| plane_argmax(g, plane, &first_taps, y, arg));
    (y, arg)
}

/// values [B, C, H, W] at each window's arg-max: [B, C, H_out, W_out].
pub fn gather(g: &PoolGeometry, values: &[f32], arg: &[u32]) -> Vec<f32> {
    assert_eq!(
        values.len(),
        g.planes() * g.plane_in(),
        "max_pool2d: values size"
    );
    assert_eq!(
        arg.len(),
        g.planes() * g.plane_out(),
        "max_pool2d: arg-max size"
    );
    let mut y = vec![0.0f32; arg.len()];
    y.par_chunks_mut(g.plane_out().max(1))
        .zip(arg.par_chunks(g.plane_out().max(1)))
        .zip(values.par_chunks(g.plane_in().max(1)))
        .for_each(|((y, arg), values)| {
            for (y, &i) in y.iter_mut().zip(arg) {
                *y = values[i as usize];
            }
        });
    y
}

/// dx [B, C, H, W]: each output gradient of dy added at its window's arg-max.
pub fn backward(g: &PoolGeometry, arg: &[u32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(
        dy.len(),
        g.planes() * g.plane_out(),
        "max_pool2d backward: gradient size"
    );
    assert_eq!(arg.len(), dy.len(), "max_pool2d backward: arg-max size");
    let mut dx = vec![0.0f32; g.planes() * g.plane_in()];
    dx.par_chunks_mut(g.plane_in().max(1))
        .zip(arg.par_chunks(g.plane_out().max(1)))
        .zip(dy.par_chunks(g.plane_out().max(1)))
        .for_each(|((dx, arg), dy)| {
            for (&i, d) in arg.iter().zip(dy) {
                dx[i as usize] += d;
            }
        });
    dx
}
