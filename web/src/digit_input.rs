//! The page's model input from a drawing or an uploaded picture: the JavaScript entry point
//! of [`ballast_data::digit_image::to_mnist`] (greyscale, polarity, ink box fitted into
//! 20×20 by area averaging, centre-of-mass centring; the maths is in that module).

use wasm_bindgen::prelude::*;

/// `rgba`: the `width`×`height` picture's RGBA8 bytes, row-major (`ImageData.data`; a
/// `Uint8Array` view of it, or the `Uint8ClampedArray` itself) → a `Float32Array` of 784
/// values in [0, 1] (28×28, white ink on black, row-major), or `undefined` when the picture
/// holds no ink. Throws when `rgba.length != 4·width·height` or a side is 0.
#[wasm_bindgen]
pub fn to_mnist(rgba: &[u8], width: usize, height: usize) -> Result<Option<Vec<f32>>, JsValue> {
    ballast_data::digit_image::to_mnist(rgba, width, height)
        .map_err(|e| JsError::new(&e.to_string()).into())
}
