//! MNIST-style model input from an arbitrary picture (a drawing on the page, an uploaded
//! photo): RGBA8 pixels in, 28×28 values in `[0, 1]` out, white ink on black, the ink fitted
//! into a 20×20 box and centred by its centre of mass, the way MNIST itself was prepared.
//!
//! [`to_mnist`] reads a `width`×`height` picture as row-major RGBA8 bytes (4·width·height of
//! them, as in a browser's `ImageData.data`) and does, in order:
//!
//! 1. **Greyscale.** Per pixel `g = (0.299·r + 0.587·g + 0.114·b)/255 · a/255`: BT.601 luma
//!    times opacity, so transparent pixels are background (0). It is computed as the integer
//!    `(299·r + 587·g + 114·b)·a` over `1000·255·255`, so the polarity test and the ink
//!    threshold below are exact integer comparisons.
//! 2. **Polarity.** If the mean of `g` over the whole picture is above ½ (dark ink on light
//!    paper), every value becomes `1 − g`: ink is bright afterwards, as in MNIST.
//! 3. **Ink box.** The smallest rectangle `[x0, x1]×[y0, y1]` holding every pixel with
//!    `g >` [`INK_THRESHOLD`] (0.2), of `bw = x1 − x0 + 1` by `bh = y1 − y0 + 1` pixels. No
//!    such pixel: the picture is empty and the result is `None`. Fainter pixels outside the
//!    box (smudges, paper texture) are dropped.
//! 4. **Fit.** With `L = max(bw, bh)` and scale `s = 20/L`, the box becomes the rectangle of
//!    `dw × dh = bw·s × bh·s` output pixels (its longer side exactly [`FIT`] = 20) at
//!    `(ox, oy) = ((28 − dw)/2, (28 − dh)/2)` on a black 28×28 canvas, a fractional position
//!    in general. Box pixel `(i, j)` covers the square `[ox + i·s, ox + (i+1)·s) ×
//!    [oy + j·s, oy + (j+1)·s)`. The resampling is area averaging (a box filter): output
//!    pixel `(X, Y)`, the unit square `[X, X+1) × [Y, Y+1)`, gets
//!    `Σ_ij |[X, X+1) ∩ [ox + i·s, ox + (i+1)·s)| · |[Y, Y+1) ∩ [oy + j·s, oy + (j+1)·s)| ·
//!    g(x0 + i, y0 + j)`, the coverage-weighted mean of the source pixels it overlaps, where
//!    any part of the unit square outside the rectangle is black background. Downscaling (an
//!    output pixel averages many source pixels) and upscaling (a source pixel spreads over
//!    several output pixels) are the same formula; the weights are separable, so it runs as
//!    one horizontal and one vertical pass, and the total ink is multiplied by exactly `s²`.
//!    The rectangle lies in `[4, 24]²`, so all ink is in rows and columns 4 to 23.
//! 5. **Centring.** The centre of mass `(cx, cy) = Σ v·(x, y) / Σ v`, with pixel `(x, y)` at
//!    integer coordinates (the canvas centre is `(13.5, 13.5)`), is moved to the centre by
//!    the whole-pixel shift `(dx, dy) = (⌊13.5 − cx + ½⌋, ⌊13.5 − cy + ½⌋)` (JavaScript's
//!    `Math.round`). Pixels shifted off the canvas are dropped.
//!
//! The result is `Some` of 784 `f32` values in `[0, 1]`, row-major `[28, 28]`.
//!
//! **When is the digit centred?** If the shift drops no ink, the centre of mass of the
//! result is `(cx + dx, cy + dy)`, and `cx + dx − 13.5 = dx − (13.5 − cx) ∈ (−½, ½]`: within
//! half a pixel of the centre in both axes. Since the ink sits in rows and columns 4 to 23
//! before the shift, no ink is dropped whenever `|dx|, |dy| ≤ 4`. Larger shifts only come
//! from lopsided ink (most of the mass at one end of the 20-pixel side, a faint tail at the
//! other); then the tail can be cut and the bound can fail.
//!
//! Everything is computed in `f64` with a fixed order of operations and no 8-bit rounding
//! between steps, so the result is the same in every browser and natively, unlike the
//! canvas `drawImage` smoothing the page used before. Memory: no buffer the size of the
//! picture; three passes over the bytes (mean, box, resampling).

use crate::error::DataError;

/// Side of the output image in pixels.
pub const SIDE: usize = 28;
/// Number of output values, `SIDE²`.
pub const PIXELS: usize = SIDE * SIDE;
/// The longer side of the ink box is rescaled to this many pixels.
pub const FIT: usize = 20;
/// A pixel is ink, for the bounding box, when its greyscale value (after the polarity
/// flip) is strictly above this.
pub const INK_THRESHOLD: f64 = 0.2;

/// Denominator of the greyscale value: 1000 (luma weights in thousandths) · 255 (colour) ·
/// 255 (alpha).
const GREY_DENOM: u32 = 1000 * 255 * 255;
/// `INK_THRESHOLD · GREY_DENOM`, exact: a numerator above this is ink.
const INK_NUMER: u32 = GREY_DENOM / 5;
const _: () = assert!(GREY_DENOM.is_multiple_of(5));

/// The canvas centre, where the centre of mass is moved.
const CENTRE: f64 = (SIDE as f64 - 1.0) / 2.0;

/// `rgba` (row-major RGBA8, `4·width·height` bytes) → `Some` of the 784 values in `[0, 1]`
/// of the MNIST-style 28×28 image (row-major, white ink on black), or `None` when the
/// picture holds no ink. See the [module docs](self) for the steps and their maths.
///
/// # Errors
/// [`DataError::EmptyImage`] when `width` or `height` is 0;
/// [`DataError::ImageBufferLength`] when `rgba.len() != 4·width·height`.
pub fn to_mnist(rgba: &[u8], width: usize, height: usize) -> Result<Option<Vec<f32>>, DataError> {
    let Some(fitted) = fit(rgba, width, height)? else {
        return Ok(None);
    };
    let (dx, dy) = centring_shift(&fitted);
    let centred = shift(&fitted, dx, dy);
    Ok(Some(
        centred.iter().map(|&v| v.clamp(0.0, 1.0) as f32).collect(),
    ))
}

/// Steps 1 to 4: the ink fitted into the 20×20 box, before the centring shift.
fn fit(rgba: &[u8], width: usize, height: usize) -> Result<Option<[f64; PIXELS]>, DataError> {
    check_size(rgba, width, height)?;
    let picture = Picture::new(rgba, width);
    let Some(ink) = picture.ink_box(height) else {
        return Ok(None);
    };
    Ok(Some(resample(&picture, &ink)))
}

fn check_size(rgba: &[u8], width: usize, height: usize) -> Result<(), DataError> {
    if width == 0 || height == 0 {
        return Err(DataError::EmptyImage { width, height });
    }
    let expected = (width as u128)
        .saturating_mul(height as u128)
        .saturating_mul(4);
    if rgba.len() as u128 != expected {
        return Err(DataError::ImageBufferLength {
            width,
            height,
            expected,
            actual: rgba.len(),
        });
    }
    Ok(())
}

/// Greyscale numerator of one RGBA8 pixel: `(299·r + 587·g + 114·b)·a`, in `[0, GREY_DENOM]`.
fn grey_numer(px: &[u8]) -> u32 {
    let [r, g, b, a] = [px[0], px[1], px[2], px[3]].map(u32::from);
    (299 * r + 587 * g + 114 * b) * a
}

/// A validated picture with its polarity decided (steps 1 and 2).
struct Picture<'a> {
    rgba: &'a [u8],
    width: usize,
    /// Dark ink on light paper: values are `1 − g`.
    invert: bool,
}

/// The ink bounding box, inclusive corners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InkBox {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl<'a> Picture<'a> {
    fn new(rgba: &'a [u8], width: usize) -> Self {
        let sum: u128 = rgba
            .chunks_exact(4)
            .map(|p| u128::from(grey_numer(p)))
            .sum();
        let count = (rgba.len() / 4) as u128;
        // mean = sum / (count · GREY_DENOM) > 1/2.
        let invert = 2 * sum > count * u128::from(GREY_DENOM);
        Self {
            rgba,
            width,
            invert,
        }
    }

    /// Greyscale numerator of pixel `(x, y)` after the polarity flip.
    fn numer(&self, x: usize, y: usize) -> u32 {
        let p = 4 * (y * self.width + x);
        let n = grey_numer(&self.rgba[p..p + 4]);
        if self.invert { GREY_DENOM - n } else { n }
    }

    /// Value of pixel `(x, y)` in `[0, 1]`, ink bright.
    fn value(&self, x: usize, y: usize) -> f64 {
        f64::from(self.numer(x, y)) / f64::from(GREY_DENOM)
    }

    /// Step 3: the bounding box of the pixels above the ink threshold, if any.
    fn ink_box(&self, height: usize) -> Option<InkBox> {
        let mut b: Option<InkBox> = None;
        for y in 0..height {
            for x in 0..self.width {
                if self.numer(x, y) <= INK_NUMER {
                    continue;
                }
                b = Some(match b {
                    None => InkBox {
                        x0: x,
                        y0: y,
                        x1: x,
                        y1: y,
                    },
                    Some(b) => InkBox {
                        x0: b.x0.min(x),
                        y0: b.y0.min(y),
                        x1: b.x1.max(x),
                        y1: b.y1.max(y),
                    },
                });
            }
        }
        b
    }
}

/// Output coordinates of the `n + 1` edges of `n` box pixels along one axis, when the
/// longer side has `longer` pixels: `origin + k·20/longer` with `origin = (28 − n·20/longer)/2`.
/// The longer side gets origin 4 and edges `4 + 20k/n` exactly; all edges are clamped to
/// `[4, 24]`, where they lie mathematically, so rounding cannot push ink outside.
fn edges(n: usize, longer: usize) -> Vec<f64> {
    let fit = FIT as f64;
    let longer = longer as f64;
    let len = fit * n as f64 / longer;
    let origin = (SIDE as f64 - len) / 2.0;
    let lo = (SIDE - FIT) as f64 / 2.0;
    let hi = lo + fit;
    (0..=n)
        .map(|k| (origin + fit * k as f64 / longer).clamp(lo, hi))
        .collect()
}

/// Calls `f(cell, overlap)` for every unit cell `[c, c+1)` that the interval `[a, b)` overlaps.
fn spread(a: f64, b: f64, mut f: impl FnMut(usize, f64)) {
    for c in a.floor() as usize..b.ceil() as usize {
        let overlap = b.min((c + 1) as f64) - a.max(c as f64);
        if overlap > 0.0 {
            f(c, overlap);
        }
    }
}

/// Step 4: area-averaging resample of the ink box into its rectangle on the 28×28 canvas.
fn resample(picture: &Picture<'_>, ink: &InkBox) -> [f64; PIXELS] {
    let bw = ink.x1 - ink.x0 + 1;
    let bh = ink.y1 - ink.y0 + 1;
    let longer = bw.max(bh);
    let ex = edges(bw, longer);
    let ey = edges(bh, longer);
    let mut out = [0.0; PIXELS];
    let mut row = [0.0f64; SIDE];
    for j in 0..bh {
        // Horizontal pass: box row j onto the 28 output columns.
        row.fill(0.0);
        for i in 0..bw {
            let v = picture.value(ink.x0 + i, ink.y0 + j);
            if v > 0.0 {
                spread(ex[i], ex[i + 1], |c, w| row[c] += w * v);
            }
        }
        // Vertical pass: that row onto the output rows its footprint overlaps.
        spread(ey[j], ey[j + 1], |r, w| {
            for (o, &v) in out[r * SIDE..(r + 1) * SIDE].iter_mut().zip(&row) {
                *o += w * v;
            }
        });
    }
    out
}

/// `Math.round` of JavaScript: halves round up.
fn round_half_up(v: f64) -> isize {
    (v + 0.5).floor() as isize
}

/// Centre of mass `(cx, cy)` of a 28×28 image, pixel `(x, y)` at integer coordinates;
/// `None` if it holds no mass.
fn centre_of_mass(img: &[f64]) -> Option<(f64, f64)> {
    let (mut m, mut mx, mut my) = (0.0, 0.0, 0.0);
    for (p, &v) in img.iter().enumerate() {
        m += v;
        mx += v * (p % SIDE) as f64;
        my += v * (p / SIDE) as f64;
    }
    (m > 0.0).then(|| (mx / m, my / m))
}

/// Step 5: the whole-pixel shift that brings the centre of mass nearest to (13.5, 13.5).
fn centring_shift(img: &[f64; PIXELS]) -> (isize, isize) {
    match centre_of_mass(img) {
        Some((cx, cy)) => (round_half_up(CENTRE - cx), round_half_up(CENTRE - cy)),
        None => (0, 0),
    }
}

/// `img` moved `dx` pixels right and `dy` down; what leaves the canvas is dropped.
fn shift(img: &[f64; PIXELS], dx: isize, dy: isize) -> [f64; PIXELS] {
    let mut out = [0.0; PIXELS];
    let side = SIDE as isize;
    for y in 0..side {
        for x in 0..side {
            let (sx, sy) = (x - dx, y - dy);
            if (0..side).contains(&sx) && (0..side).contains(&sy) {
                out[(y * side + x) as usize] = img[(sy * side + sx) as usize];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An ink drawing in `[0, 1]` on a `w`×`h` canvas, rendered to RGBA8 in several ways.
    struct Drawing {
        w: usize,
        h: usize,
        ink: Vec<f64>,
    }

    impl Drawing {
        fn new(w: usize, h: usize) -> Self {
            Self {
                w,
                h,
                ink: vec![0.0; w * h],
            }
        }

        /// A round-capped pen stroke of radius `r` from `a` to `b`, anti-aliased over one
        /// pixel: pixel coverage `clamp(r + ½ − distance, 0, 1)` at the pixel centre.
        fn stroke(&mut self, a: (f64, f64), b: (f64, f64), r: f64) {
            let (vx, vy) = (b.0 - a.0, b.1 - a.1);
            let len2 = vx * vx + vy * vy;
            for y in 0..self.h {
                for x in 0..self.w {
                    let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                    let t = if len2 > 0.0 {
                        (((px - a.0) * vx + (py - a.1) * vy) / len2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let d = (px - a.0 - t * vx).hypot(py - a.1 - t * vy);
                    let c = (r + 0.5 - d).clamp(0.0, 1.0);
                    let p = y * self.w + x;
                    self.ink[p] = self.ink[p].max(c);
                }
            }
        }

        fn levels(&self) -> impl Iterator<Item = u8> + '_ {
            self.ink.iter().map(|&v| (255.0 * v).round() as u8)
        }

        /// White ink on opaque black.
        fn white_on_black(&self) -> Vec<u8> {
            self.levels().flat_map(|v| [v, v, v, 255]).collect()
        }

        /// Black ink on opaque white: the negative of [`Self::white_on_black`].
        fn black_on_white(&self) -> Vec<u8> {
            self.levels()
                .flat_map(|v| [255 - v, 255 - v, 255 - v, 255])
                .collect()
        }

        /// White ink whose opacity is the ink level, on a transparent background.
        fn white_on_transparent(&self) -> Vec<u8> {
            self.levels().flat_map(|v| [255, 255, 255, v]).collect()
        }

        fn to_mnist(&self, rgba: &[u8]) -> Vec<f32> {
            to_mnist(rgba, self.w, self.h)
                .unwrap()
                .expect("the drawing has ink")
        }
    }

    fn mass(img: &[f32]) -> f64 {
        img.iter().map(|&v| f64::from(v)).sum()
    }

    fn com(img: &[f32]) -> (f64, f64) {
        let img: Vec<f64> = img.iter().map(|&v| f64::from(v)).collect();
        centre_of_mass(&img).expect("the image has mass")
    }

    /// Inclusive bounding box `(x0, y0, x1, y1)` of the pixels above `thr`.
    fn bbox<T: Copy + Into<f64>>(img: &[T], thr: f64) -> Option<(usize, usize, usize, usize)> {
        let mut b: Option<(usize, usize, usize, usize)> = None;
        for (p, &v) in img.iter().enumerate() {
            if v.into() > thr {
                let (x, y) = (p % SIDE, p / SIDE);
                b = Some(match b {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
        b
    }

    fn assert_valid(img: &[f32]) {
        assert_eq!(img.len(), PIXELS);
        assert!(img.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
    }

    fn assert_centred(img: &[f32]) {
        let (cx, cy) = com(img);
        assert!(
            (cx - CENTRE).abs() <= 0.5 && (cy - CENTRE).abs() <= 0.5,
            "centre of mass ({cx}, {cy}) is more than half a pixel from (13.5, 13.5)"
        );
    }

    /// The drawing pad's "1": one vertical stroke, pen radius 12 (the page's pen is 280/11 wide).
    fn one() -> Drawing {
        let mut d = Drawing::new(280, 280);
        d.stroke((140.0, 40.0), (140.0, 240.0), 12.0);
        d
    }

    /// A "7" in the top-left corner of the pad: a horizontal bar and a diagonal down-left.
    fn seven() -> Drawing {
        let mut d = Drawing::new(280, 280);
        d.stroke((30.0, 30.0), (120.0, 30.0), 10.0);
        d.stroke((120.0, 30.0), (60.0, 160.0), 10.0);
        d
    }

    #[test]
    fn a_centred_stroke_becomes_a_20_pixel_one() {
        let d = one();
        let rgba = d.white_on_black();
        let out = d.to_mnist(&rgba);
        assert_valid(&out);
        let (x0, y0, x1, y1) = bbox(&out, 0.0).unwrap();
        assert_eq!(y1 - y0 + 1, 20, "the stroke is the box's longer side");
        let width = x1 - x0 + 1;
        assert!(width <= 5, "a thin stroke stays thin: columns {x0}..={x1}");
        assert_centred(&out);
        // Total ink: the source ink inside its box times s² (area averaging keeps it), and
        // in the range of a real MNIST "1".
        let grey: Vec<f64> = rgba
            .chunks_exact(4)
            .map(|p| f64::from(p[0]) / 255.0)
            .collect();
        let (mut top, mut bottom) = (usize::MAX, 0);
        for (p, &v) in grey.iter().enumerate() {
            if v > INK_THRESHOLD {
                top = top.min(p / d.w);
                bottom = bottom.max(p / d.w);
            }
        }
        let s = FIT as f64 / (bottom - top + 1) as f64;
        let source: f64 = grey[top * d.w..(bottom + 1) * d.w].iter().sum();
        let m = mass(&out);
        assert!(
            (m - s * s * source).abs() < 1e-4 * m,
            "{m} vs {}",
            s * s * source
        );
        assert!((20.0..80.0).contains(&m), "total ink {m}");
        // Symmetric about the vertical centre line: equal mass left and right of 13.5.
        let left: f64 = (0..PIXELS)
            .filter(|p| p % SIDE < 14)
            .map(|p| f64::from(out[p]))
            .sum();
        assert!((left - m / 2.0).abs() < 1e-4 * m);
    }

    #[test]
    fn an_off_centre_seven_lands_centred_with_its_bar_on_top() {
        let d = seven();
        let out = d.to_mnist(&d.white_on_black());
        assert_valid(&out);
        assert_centred(&out);
        // The longer (vertical) side is 20 pixels: exactly for any ink, ±1 above 0.2.
        let (x0, y0, x1, y1) = bbox(&out, 0.0).unwrap();
        assert_eq!((y1 - y0 + 1).max(x1 - x0 + 1), 20);
        let (ax0, ay0, ax1, ay1) = bbox(&out, INK_THRESHOLD).unwrap();
        let longer = (ay1 - ay0 + 1).max(ax1 - ax0 + 1);
        assert!((19..=21).contains(&longer), "longer side {longer}");
        // The bar: the heaviest row is among the top three rows of the box and its ink
        // spans most of the box; rows in the lower half are narrow (the diagonal).
        let width = x1 - x0 + 1;
        let row_mass = |y: usize| -> f64 { (0..SIDE).map(|x| f64::from(out[y * SIDE + x])).sum() };
        let row_ink = |y: usize| (0..SIDE).filter(|&x| out[y * SIDE + x] > 0.5).count();
        let heaviest = (y0..=y1)
            .max_by(|&a, &b| row_mass(a).total_cmp(&row_mass(b)))
            .unwrap();
        assert!(
            heaviest <= y0 + 2,
            "heaviest row {heaviest}, box rows {y0}..={y1}"
        );
        assert!(
            row_ink(heaviest) * 10 >= width * 7,
            "the bar covers {} of {width}",
            row_ink(heaviest)
        );
        for y in (y0 + y1) / 2 + 1..=y1 {
            assert!(
                row_ink(y) * 2 <= width,
                "row {y} has {} ink pixels of {width}",
                row_ink(y)
            );
        }
        // The joint of bar and diagonal: ink in the top-right corner of the box.
        assert!(out[y0 * SIDE + x1 - 1] > 0.5 || out[(y0 + 1) * SIDE + x1 - 1] > 0.5);
    }

    #[test]
    fn dark_ink_on_light_paper_and_transparent_backgrounds_give_the_same_digit() {
        for d in [seven(), one()] {
            let reference = d.to_mnist(&d.white_on_black());
            for other in [d.black_on_white(), d.white_on_transparent()] {
                let out = d.to_mnist(&other);
                let worst = out
                    .iter()
                    .zip(&reference)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst <= 1e-6, "largest difference {worst}");
            }
        }
        // Coloured ink counts by its luma: pure blue (0.114) is below the ink threshold,
        // pure green (0.587) above it.
        let mut blue = vec![0u8; 4 * 16];
        blue[4 * 5..4 * 6].copy_from_slice(&[0, 0, 255, 255]);
        assert_eq!(to_mnist(&blue, 4, 4).unwrap(), None);
        blue[4 * 5..4 * 6].copy_from_slice(&[0, 255, 0, 255]);
        assert!(to_mnist(&blue, 4, 4).unwrap().is_some());
    }

    #[test]
    fn pictures_without_ink_give_none() {
        let (w, h) = (31, 17);
        let fill =
            |px: [u8; 4]| -> Vec<u8> { px.iter().copied().cycle().take(4 * w * h).collect() };
        // Transparent, black, white, dark grey (0.16) and light grey (0.86, inverted: 0.14).
        for px in [
            [0, 0, 0, 0],
            [255, 255, 255, 0],
            [0, 0, 0, 255],
            [255, 255, 255, 255],
            [40, 40, 40, 255],
            [220, 220, 220, 255],
        ] {
            assert_eq!(to_mnist(&fill(px), w, h).unwrap(), None, "uniform {px:?}");
        }
        // A uniform mid grey (128: 0.502, inverted 0.498) is ink everywhere, as in the page's
        // former JavaScript: the whole picture becomes a full 20×20 square of 0.498.
        let grey = to_mnist(&fill([128, 128, 128, 255]), w, h)
            .unwrap()
            .unwrap();
        assert_eq!(
            bbox(&grey, 0.0).map(|(x0, y0, x1, y1)| (x1 - x0 + 1).max(y1 - y0 + 1)),
            Some(20)
        );
        // A faint mark at exactly the threshold (51/255 = 0.2) is no ink; 52/255 is.
        let mut faint = fill([0, 0, 0, 255]);
        faint[4 * 40..4 * 40 + 3].copy_from_slice(&[51, 51, 51]);
        assert_eq!(to_mnist(&faint, w, h).unwrap(), None);
        faint[4 * 40..4 * 40 + 3].copy_from_slice(&[52, 52, 52]);
        assert!(to_mnist(&faint, w, h).unwrap().is_some());
    }

    #[test]
    fn a_buffer_of_the_wrong_size_is_an_error_that_says_what_was_expected() {
        let err = to_mnist(&[0; 15], 2, 2).unwrap_err();
        assert_eq!(
            err,
            DataError::ImageBufferLength {
                width: 2,
                height: 2,
                expected: 16,
                actual: 15
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("2×2") && msg.contains("= 16 bytes, found 15"),
            "{msg}"
        );
        let err = to_mnist(&[], 0, 5).unwrap_err();
        assert_eq!(
            err,
            DataError::EmptyImage {
                width: 0,
                height: 5
            }
        );
        assert!(err.to_string().contains("0×5"), "{err}");
        assert!(matches!(
            to_mnist(&[0; 4], 1, 0),
            Err(DataError::EmptyImage { .. })
        ));
        assert!(matches!(
            to_mnist(&[], usize::MAX, usize::MAX),
            Err(DataError::ImageBufferLength { actual: 0, .. })
        ));
    }

    /// A "0" already in MNIST form: an elliptical ring in rows 4..=23 and columns 7..=20,
    /// symmetric about (13.5, 13.5), with a soft inner edge; outer pixels all above 0.2.
    fn mnist_zero() -> Vec<u8> {
        let mut levels = vec![0u8; PIXELS];
        for (p, l) in levels.iter_mut().enumerate() {
            let ex = ((p % SIDE) as f64 - CENTRE) / 7.0;
            let ey = ((p / SIDE) as f64 - CENTRE) / 10.0;
            let e = ex.hypot(ey);
            let v = if e > 1.0 {
                0.0
            } else if e >= 0.7 {
                1.0
            } else {
                ((e - 0.5) / 0.2).clamp(0.0, 1.0)
            };
            *l = (255.0 * v).round() as u8;
        }
        levels
    }

    fn rgba_of(levels: &[u8]) -> Vec<u8> {
        levels.iter().flat_map(|&v| [v, v, v, 255]).collect()
    }

    #[test]
    fn an_mnist_digit_round_trips() {
        let levels = mnist_zero();
        let ink: Vec<f64> = levels.iter().map(|&v| f64::from(v) / 255.0).collect();
        assert_eq!(
            bbox(&ink, INK_THRESHOLD),
            Some((7, 4, 20, 23)),
            "the pattern's ink box"
        );
        let expected: Vec<f32> = levels.iter().map(|&v| f32::from(v) / 255.0).collect();
        let close = |out: &[f32], what: &str| {
            let worst = out
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-6, "{what}: largest difference {worst}");
        };
        close(
            &to_mnist(&rgba_of(&levels), SIDE, SIDE).unwrap().unwrap(),
            "as is",
        );
        // Anywhere on a larger canvas (only the ink box matters) ...
        let (w, h, ox, oy) = (100, 60, 37, 11);
        let mut big = vec![0u8; w * h];
        for p in 0..PIXELS {
            big[(oy + p / SIDE) * w + ox + p % SIDE] = levels[p];
        }
        close(&to_mnist(&rgba_of(&big), w, h).unwrap().unwrap(), "moved");
        // ... and enlarged 3× by pixel replication: every output pixel averages a 3×3 block.
        let k = 3;
        let mut large = vec![0u8; PIXELS * k * k];
        for y in 0..SIDE * k {
            for x in 0..SIDE * k {
                large[y * SIDE * k + x] = levels[(y / k) * SIDE + x / k];
            }
        }
        close(
            &to_mnist(&rgba_of(&large), SIDE * k, SIDE * k)
                .unwrap()
                .unwrap(),
            "enlarged",
        );
    }

    #[test]
    fn small_pictures_are_enlarged_by_area_averaging_at_fractional_offsets() {
        // One white pixel (on black: a lone white pixel would be paper) fills the 20×20 box.
        let mut dot = [0u8; 4 * 9];
        dot[4 * 4..4 * 5].copy_from_slice(&[255; 4]);
        let out = to_mnist(&dot, 3, 3).unwrap().unwrap();
        for (p, &v) in out.iter().enumerate() {
            let inside = (4..24).contains(&(p % SIDE)) && (4..24).contains(&(p / SIDE));
            assert_eq!(v, if inside { 1.0 } else { 0.0 }, "pixel {p}");
        }
        // A 20×5 bar at scale 1 lands at rows 11.5..16.5: half-covered rows 11 and 16.
        let (w, h) = (40, 40);
        let mut levels = vec![0u8; w * h];
        for y in 3..8 {
            for x in 10..30 {
                levels[y * w + x] = 255;
            }
        }
        let out = to_mnist(&rgba_of(&levels), w, h).unwrap().unwrap();
        for y in 0..SIDE {
            let expected = match y {
                11 | 16 => 0.5,
                12..=15 => 1.0,
                _ => 0.0,
            };
            for x in 0..SIDE {
                let e = if (4..24).contains(&x) { expected } else { 0.0 };
                assert_eq!(out[y * SIDE + x], e, "pixel ({x}, {y})");
            }
        }
        // Two pixels side by side, one at half intensity (128): the ink box is 2×1, scale 10.
        let mut pair = [0u8; 4 * 12];
        for (p, v) in [(5, 255), (6, 128)] {
            pair[4 * p..4 * p + 4].copy_from_slice(&[v, v, v, 255]);
        }
        let out = to_mnist(&pair, 4, 3).unwrap().unwrap();
        let right = 128.0 / 255.0;
        let (cx, _) = com(&out);
        // Columns 4..=13 bright, 14..=23 dim before the shift: centre of mass
        // (8.5 + 18.5·right)/(1 + right) ≈ 11.84, so the shift is +2 columns (rows: 0).
        assert_eq!(out[14 * SIDE + 5], 0.0);
        assert_eq!(out[14 * SIDE + 6], 1.0);
        assert_eq!(out[14 * SIDE + 15], 1.0);
        assert!((out[14 * SIDE + 16] - right as f32).abs() < 1e-6);
        assert!((out[14 * SIDE + 25] - right as f32).abs() < 1e-6);
        assert_eq!(out[14 * SIDE + 26], 0.0);
        assert_eq!(
            (
                out[8 * SIDE + 10],
                out[9 * SIDE + 10],
                out[18 * SIDE + 10],
                out[19 * SIDE + 10]
            ),
            (0.0, 1.0, 1.0, 0.0)
        );
        assert!((cx - CENTRE).abs() <= 0.5);
    }

    /// A random picture: canvas size, a background pixel and up to four rectangles of random
    /// colour and opacity, at positions given as fractions of the canvas.
    fn picture() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
        let rect = (
            0.0..1.0f64,
            0.0..1.0f64,
            0.0..1.0f64,
            0.0..1.0f64,
            any::<[u8; 4]>(),
        );
        let background = prop_oneof![
            Just([0u8, 0, 0, 255]),
            Just([255u8, 255, 255, 255]),
            Just([0u8, 0, 0, 0]),
            any::<[u8; 4]>(),
        ];
        (
            1usize..=48,
            1usize..=48,
            background,
            prop::collection::vec(rect, 0..=4),
        )
            .prop_map(|(w, h, bg, rects)| {
                let mut rgba: Vec<u8> = bg.iter().copied().cycle().take(4 * w * h).collect();
                for (fx, fy, fw, fh, px) in rects {
                    let x0 = (fx * w as f64) as usize;
                    let y0 = (fy * h as f64) as usize;
                    let x1 = x0 + ((fw * (w - x0) as f64) as usize).max(1);
                    let y1 = y0 + ((fh * (h - y0) as f64) as usize).max(1);
                    for y in y0..y1 {
                        for x in x0..x1 {
                            rgba[4 * (y * w + x)..][..4].copy_from_slice(&px);
                        }
                    }
                }
                (w, h, rgba)
            })
    }

    proptest! {
        /// For any picture: 784 finite values in [0, 1] or None. When Some, with `pre` the
        /// fitted image before the shift and (dx, dy) its centring shift:
        /// - all of `pre`'s ink lies in rows and columns 4..=23;
        /// - |dx|, |dy| <= 4 implies that the shift drops no ink;
        /// - if the shift drops no ink (the shifted support of `pre` stays on the canvas), the
        ///   output keeps `pre`'s total ink and its centre of mass is within ½ px of
        ///   (13.5, 13.5) in both axes (+1e-4 for the f32 output);
        /// - the output always has ink (the least-shifted end of the support stays on).
        #[test]
        fn outputs_are_valid_and_centred_unless_the_shift_cuts_ink((w, h, rgba) in picture()) {
            let out = to_mnist(&rgba, w, h).unwrap();
            let pre = fit(&rgba, w, h).unwrap();
            prop_assert_eq!(out.is_some(), pre.is_some());
            let (Some(out), Some(pre)) = (out, pre) else { return Ok(()) };
            prop_assert_eq!(out.len(), PIXELS);
            prop_assert!(out.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
            prop_assert!(mass(&out) > 0.0);
            let (sx0, sy0, sx1, sy1) = bbox(&pre[..], 0.0).unwrap();
            prop_assert!(sx0 >= 4 && sy0 >= 4 && sx1 <= 23 && sy1 <= 23, "support {:?}", (sx0, sy0, sx1, sy1));
            let (dx, dy) = centring_shift(&pre);
            let on = |lo: usize, hi: usize, d: isize| lo as isize + d >= 0 && hi as isize + d < SIDE as isize;
            let kept = on(sx0, sx1, dx) && on(sy0, sy1, dy);
            if dx.abs() <= 4 && dy.abs() <= 4 {
                prop_assert!(kept);
            }
            if kept {
                let m_pre: f64 = pre.iter().sum();
                prop_assert!((mass(&out) - m_pre).abs() <= 1e-5 * m_pre);
                let (cx, cy) = com(&out);
                prop_assert!((cx - CENTRE).abs() <= 0.5 + 1e-4 && (cy - CENTRE).abs() <= 0.5 + 1e-4,
                    "centre of mass ({}, {}) with shift ({}, {})", cx, cy, dx, dy);
            }
        }

        /// An opaque picture and its negative give the same digit, unless the mean grey is
        /// exactly ½ (then neither is inverted).
        #[test]
        fn the_negative_of_an_opaque_picture_gives_the_same_digit((w, h, mut rgba) in picture()) {
            for px in rgba.chunks_exact_mut(4) {
                px[3] = 255;
            }
            let negative: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 255]).collect();
            let sum: u128 = rgba.chunks_exact(4).map(|p| u128::from(grey_numer(p))).sum();
            prop_assume!(2 * sum != (w * h) as u128 * u128::from(GREY_DENOM));
            prop_assert_eq!(to_mnist(&rgba, w, h).unwrap(), to_mnist(&negative, w, h).unwrap());
        }
    }
}
