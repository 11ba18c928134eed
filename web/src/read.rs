//! Reading tensors back to the host. Always async: WebGPU in the browser cannot block, and
//! on the CPU backend the futures are ready at once.

use burn::prelude::*;

pub async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    t.into_data_async()
        .await
        .map_err(|e| format!("reading a tensor failed: {e:?}"))?
        .try_to_vec_as::<f32>()
        .map_err(|e| format!("unexpected tensor data: {e:?}"))
}

pub async fn read_scalar(t: Tensor<1>) -> Result<f64, String> {
    Ok(read_f32(t).await?.first().copied().unwrap_or(f32::NAN) as f64)
}
