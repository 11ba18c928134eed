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
}
