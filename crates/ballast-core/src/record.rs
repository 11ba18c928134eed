//! Modules and optimiser states as burnpack bytes: what checkpoints, shipped assets and a
//! method's saved state are made of. No file I/O: callers read and write the bytes.

use crate::error::CoreError;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

/// The burnpack bytes of a module's record (plain copy: autodiff state is not saved).
pub fn module_bytes<M: Module>(module: &M) -> Result<Vec<u8>, CoreError> {
    let bytes = module
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| CoreError::Encode {
            what: "a module".into(),
            reason: format!("{e:?}"),
        })?;
    Ok(bytes.to_vec())
}

/// The bytes of an optimiser's state (moments, step counts).
pub fn optimizer_bytes(optim: &ModuleOptimizer) -> Result<Vec<u8>, CoreError> {
    let bytes = optim.into_bytes().map_err(|e| CoreError::Encode {
        what: "an optimiser state".into(),
        reason: format!("{e:?}"),
    })?;
    Ok(bytes.to_vec())
}

/// Loads burnpack bytes into `model` (which fixes the architecture), checking that every
/// tensor was applied. `what` names the bytes (a file) in the error, which says what did not
/// fit.
pub fn load_model_bytes<M: Module>(model: M, bytes: &[u8], what: &str) -> Result<M, CoreError> {
    let decode = |reason: String| CoreError::Decode {
        what: what.to_string(),
        reason,
    };
    check_tensors(bytes).map_err(decode)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| decode(format!("not a valid burnpack checkpoint: {e:?}")))?;
    model
        .try_load_record(record.cast_to_module_dtype())
        .map_err(|e| decode(format!("does not fit this model: {e:?}")))
}

/// Checks what Burn would otherwise panic on while applying a burnpack (found by fuzzing,
/// docs/fuzzing.md): every tensor must hold floats (Ballast's modules have float parameters
/// only; an integer or boolean tensor panics in `Tensor::from_data`), exactly the bytes its
/// shape and dtype need, starting at a multiple of the element size (the writer aligns them).
/// Floats of another width are cast to the model's on load.
fn check_tensors(bytes: &[u8]) -> Result<(), String> {
    let buffer = Bytes::from_bytes_vec(bytes.to_vec());
    let base = buffer.as_ptr() as usize;
    let tensors = burn_pack::Reader::from_bytes(buffer)
        .and_then(|r| r.into_tensors())
        .map_err(|e| format!("not a valid burnpack checkpoint: {e}"))?;
    for t in tensors {
        let (name, dtype, shape, _, data) = t
            .into_parts()
            .map_err(|e| format!("not a valid burnpack checkpoint: {e}"))?;
        if !dtype.is_float() {
            return Err(format!(
                "tensor `{name}` holds {dtype:?} values, not floats"
            ));
        }
        let want = shape
            .to_vec()
            .iter()
            .try_fold(dtype.size(), |n, &d| n.checked_mul(d));
        if want != Some(data.len()) {
            return Err(format!(
                "tensor `{name}` of shape {:?} ({dtype:?}) holds {} bytes",
                shape.to_vec(),
                data.len()
            ));
        }
        // Burn's CPU kernels view the bytes as elements in place: an element that does not
        // start at a multiple of its size panics there (bytemuck), long after the load.
        let offset = (data.as_ptr() as usize).wrapping_sub(base);
        if !data.is_empty() && offset % dtype.size() != 0 {
            return Err(format!(
                "tensor `{name}` starts at byte {offset}, not a multiple of its {}-byte elements",
                dtype.size()
            ));
        }
    }
    Ok(())
}

/// Loads the module saved as `name` (read with `file`) into `module`.
pub fn load_module<M: Module>(
    module: M,
    name: &'static str,
    file: &dyn Fn(&'static str) -> Option<Vec<u8>>,
) -> Result<M, CoreError> {
    let bytes = file(name).ok_or_else(|| missing(name))?;
    load_model_bytes(module, &bytes, name)
}

/// Loads the optimiser state saved as `name` into `optim`.
pub fn load_optimizer(
    optim: ModuleOptimizer,
    name: &'static str,
    file: &dyn Fn(&'static str) -> Option<Vec<u8>>,
) -> Result<ModuleOptimizer, CoreError> {
    let bytes = file(name).ok_or_else(|| missing(name))?;
    optim
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| CoreError::Decode {
            what: name.into(),
            reason: format!("not a valid optimizer state: {e:?}"),
        })
}

fn missing(name: &str) -> CoreError {
    CoreError::Decode {
        what: name.into(),
        reason: "missing from the checkpoint".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{InputSpec, ModelConfig};
    use burn::tensor::DType;

    fn tiny() -> crate::Classifier {
        let input = InputSpec {
            shape: vec![4],
            num_classes: 2,
            mean: vec![0.5],
            std: vec![0.25],
        };
        ModelConfig::mlp(&[3]).init(&input, &Default::default())
    }

    /// The model's own burnpack with one tensor rewritten.
    fn rewritten(dtype: DType, data: Vec<u8>) -> Vec<u8> {
        let bytes = module_bytes(&tiny()).unwrap();
        let tensors = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes))
            .unwrap()
            .into_tensors()
            .unwrap()
            .into_iter()
            .map(|t| {
                let (name, old, shape, id, bytes) = t.into_parts().unwrap();
                if name.ends_with("head.bias") {
                    burn_pack::Tensor::new(
                        name,
                        dtype,
                        shape,
                        id,
                        Bytes::from_bytes_vec(data.clone()),
                    )
                } else {
                    burn_pack::Tensor::new(name, old, shape, id, bytes)
                }
            })
            .collect();
        burn_pack::Writer::new(tensors)
            .into_bytes()
            .unwrap()
            .to_vec()
    }

    /// Regression (fuzzing): an integer tensor in place of a float parameter panicked in
    /// Burn's `Tensor::from_data` ("Expected float dtype, got I32"); it is now an error.
    #[test]
    fn non_float_and_unaligned_tensors_are_errors_not_panics() {
        let int = rewritten(DType::I32, vec![0; 8]);
        let err = load_model_bytes(tiny(), &int, "int.bpk").unwrap_err();
        assert!(err.to_string().contains("not floats"), "{err}");
        // Half-precision floats load, cast to the model's f32.
        let half = rewritten(DType::F16, vec![0; 4]);
        let model = load_model_bytes(tiny(), &half, "half.bpk").unwrap();
        let x = burn::tensor::Tensor::<2>::zeros([1, 4], &Default::default());
        assert_eq!(model.forward(x, crate::Mode::Eval).dims(), [1, 2]);
        // A tensor moved to an odd offset loaded, then the forward panicked in burn-flex
        // (bytemuck: "TargetAlignmentGreaterAndInputNotAligned").
        let unaligned =
            include_bytes!("../../ballast-fuzz/corpus/burnpack/regression-unaligned.bpk");
        let err = load_model_bytes(tiny(), unaligned, "unaligned.bpk").unwrap_err();
        assert!(err.to_string().contains("not a multiple"), "{err}");
    }
}
