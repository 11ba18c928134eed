//! Pixels for the page's canvases: class-probability heatmaps and digits.

/// Class colours (colour-blind-safe Okabe–Ito order), RGB.
pub const PALETTE: [[u8; 3]; 10] = [
    [0, 114, 178],
    [230, 159, 0],
    [0, 158, 115],
    [204, 121, 167],
    [86, 180, 233],
    [213, 94, 0],
    [240, 228, 66],
    [120, 120, 120],
    [0, 0, 0],
    [150, 80, 40],
];

/// probs: [G·G, K] row-major (grid row 0 at the top) -> G·G RGBA pixels. Each pixel mixes the
/// class colours by probability and fades to white where the model is unsure.
pub fn heatmap_rgba(probs: &[f32], grid: usize, k: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(grid * grid * 4);
    for p in probs.chunks(k).take(grid * grid) {
        let mut rgb = [0.0f32; 3];
        let mut top = 0.0f32;
        for (c, &pc) in p.iter().enumerate() {
            top = top.max(pc);
            for (ch, v) in rgb.iter_mut().enumerate() {
                *v += pc * PALETTE[c % PALETTE.len()][ch] as f32;
            }
        }
        // Confidence 1/K -> white, 1 -> 55 % colour.
        let conf = ((top - 1.0 / k as f32) / (1.0 - 1.0 / k as f32)).clamp(0.0, 1.0);
        let mix = 0.55 * conf;
        for v in rgb {
            out.push((255.0 * (1.0 - mix) + v * mix).round() as u8);
        }
        out.push(255);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certain_pixels_take_their_class_colour_and_unsure_ones_fade_to_white() {
        let px = heatmap_rgba(&[1.0, 0.0, 0.5, 0.5], 1, 2);
        assert_eq!(px.len(), 4);
        let certain = heatmap_rgba(&[1.0, 0.0], 1, 2);
        let unsure = heatmap_rgba(&[0.5, 0.5], 1, 2);
        assert_eq!(unsure[..3], [255, 255, 255]);
        assert!(certain[0] < 200 && certain[2] > certain[0]);
    }

    /// Colour-vision-deficiency simulation (Machado, Oliveira and Fernandes 2009, severity 1,
    /// applied in linear RGB), then CIELAB distance (ΔE*76, D65).
    mod cvd {
        pub const PROTAN: [[f64; 3]; 3] = [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ];
        pub const DEUTAN: [[f64; 3]; 3] = [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ];
        pub const TRITAN: [[f64; 3]; 3] = [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ];
        pub const NORMAL: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

        fn linear(c: u8) -> f64 {
            let c = c as f64 / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }

        /// The CIELAB coordinates of `rgb` as a viewer with `vision` sees it.
        pub fn lab(rgb: [u8; 3], vision: &[[f64; 3]; 3]) -> [f64; 3] {
            let l = rgb.map(linear);
            let s: Vec<f64> = vision
                .iter()
                .map(|row| (0..3).map(|j| row[j] * l[j]).sum::<f64>().clamp(0.0, 1.0))
                .collect();
            let x = 0.4124 * s[0] + 0.3576 * s[1] + 0.1805 * s[2];
            let y = 0.2126 * s[0] + 0.7152 * s[1] + 0.0722 * s[2];
            let z = 0.0193 * s[0] + 0.1192 * s[1] + 0.9505 * s[2];
            let f = |t: f64| {
                if t > 216.0 / 24389.0 {
                    t.cbrt()
                } else {
                    (24389.0 / 27.0 * t + 16.0) / 116.0
                }
            };
            let (fx, fy, fz) = (f(x / 0.95047), f(y), f(z / 1.08883));
            [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
        }

        /// The smallest ΔE*76 between two of `colours` for a viewer with `vision`.
        pub fn min_distance(colours: &[[u8; 3]], vision: &[[f64; 3]; 3]) -> f64 {
            let mut min = f64::MAX;
            for (i, a) in colours.iter().enumerate() {
                for b in &colours[i + 1..] {
                    let (a, b) = (lab(*a, vision), lab(*b, vision));
                    let d = (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>().sqrt();
                    min = min.min(d);
                }
            }
            min
        }
    }

    /// The `#rrggbb` colours of the page's chart palette (`COLORS` in web/js/plot.js).
    fn chart_colours() -> Vec<[u8; 3]> {
        let src = include_str!("../js/plot.js");
        let line = src
            .lines()
            .find(|l| l.contains("export const COLORS"))
            .expect("COLORS in plot.js");
        line.split('#')
            .skip(1)
            .map(|h| {
                let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
                [v(0), v(2), v(4)]
            })
            .collect()
    }

    /// The class colours the 2-D playground uses together (up to 4 classes) and the chart
    /// colours stay at least ΔE*76 = 15 apart for protanopes, deuteranopes and tritanopes; a
    /// red / green pair, the classic trap, does not.
    #[test]
    fn palettes_stay_distinguishable_under_colour_blindness() {
        let classes = &PALETTE[..4];
        let charts = chart_colours();
        assert_eq!(charts.len(), 6, "{charts:?}");
        for (name, vision) in [
            ("protanopia", &cvd::PROTAN),
            ("deuteranopia", &cvd::DEUTAN),
            ("tritanopia", &cvd::TRITAN),
            ("normal vision", &cvd::NORMAL),
        ] {
            let c = cvd::min_distance(classes, vision);
            let k = cvd::min_distance(&charts, vision);
            println!("{name}: classes ΔE ≥ {c:.1}, charts ΔE ≥ {k:.1}");
            assert!(
                c >= 15.0 && k >= 15.0,
                "{name}: classes {c:.1}, charts {k:.1}"
            );
        }
        let red_green = [[255, 0, 0], [0, 160, 0]];
        assert!(cvd::min_distance(&red_green, &cvd::DEUTAN) < 15.0);
        assert!(cvd::min_distance(&red_green, &cvd::NORMAL) > 100.0);
    }
}
