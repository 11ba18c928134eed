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

/// The content digest of burnpack bytes: lower-case hex sha256 over every tensor in name
/// order — its name, dtype, shape and little-endian data — so it names a set of weights, not a
/// file: parameter ids, metadata and layout do not enter it.
///
/// Per tensor the hash reads `name \0 dtype \0 rank (u64) dims (u64 each) len (u64) data`.
pub fn content_digest(bytes: &[u8], what: &str) -> Result<String, CoreError> {
    use sha2::{Digest, Sha256};
    let decode = |reason: String| CoreError::Decode {
        what: what.to_string(),
        reason: format!("not a valid burnpack checkpoint: {reason}"),
    };
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| decode(format!("{e:?}")))?;
    let mut tensors = reader
        .into_tensors()
        .map_err(|e| decode(format!("{e:?}")))?;
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hash = Sha256::new();
    for tensor in tensors {
        let (name, dtype, shape, _id, data) =
            tensor.into_parts().map_err(|e| decode(format!("{e:?}")))?;
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(format!("{dtype:?}").as_bytes());
        hash.update([0]);
        hash.update((shape.len() as u64).to_le_bytes());
        for d in shape.iter() {
            hash.update((*d as u64).to_le_bytes());
        }
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(&data[..]);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The name of the first tensor of burnpack bytes holding a NaN or an infinity, if any (f32 and
/// f64 tensors; other dtypes are not floats that training writes).
pub fn first_non_finite(bytes: &[u8], what: &str) -> Result<Option<String>, CoreError> {
    let decode = |reason: String| CoreError::Decode {
        what: what.to_string(),
        reason: format!("not a valid burnpack checkpoint: {reason}"),
    };
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| decode(format!("{e:?}")))?;
    for tensor in reader
        .into_tensors()
        .map_err(|e| decode(format!("{e:?}")))?
    {
        let (name, dtype, _shape, _id, data) =
            tensor.into_parts().map_err(|e| decode(format!("{e:?}")))?;
        let finite = match dtype {
            burn_pack::DType::F32 => data
                .chunks_exact(4)
                .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite()),
            burn_pack::DType::F64 => data
                .chunks_exact(8)
                .all(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")).is_finite()),
            _ => true,
        };
        if !finite {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// The stable parameter id of the tensor named `name` (FNV-1a, 64 bits): the same weights
/// under the same names give the same file, run after run.
pub fn stable_param_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Old parameter id → stable id, from [`with_stable_ids`].
pub type IdMap = std::collections::BTreeMap<u64, u64>;

fn pack_reader(bytes: &[u8], what: &str) -> Result<burn_pack::Reader, CoreError> {
    burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| {
        CoreError::Decode {
            what: what.to_string(),
            reason: format!("not a valid burnpack file: {e:?}"),
        }
    })
}

fn pack_error(what: &str, e: burn_pack::Error) -> CoreError {
    CoreError::Encode {
        what: what.to_string(),
        reason: format!("{e:?}"),
    }
}

/// Module burnpack bytes with every parameter id replaced by [`stable_param_id`] of its
/// tensor's name (Burn draws ids at random when a module is built), in name order: the file
/// then depends on the weights alone. Returns the bytes and the ids it replaced, for the
/// optimiser state saved beside it ([`optimizer_with_ids`]). Loading such a file gives the
/// module the stable ids, and the optimiser state saved with it the same keys.
pub fn with_stable_ids(bytes: &[u8], what: &str) -> Result<(Vec<u8>, IdMap), CoreError> {
    let reader = pack_reader(bytes, what)?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let mut ids = IdMap::new();
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| pack_error(what, e))? {
        let (name, dtype, shape, id, data) =
            tensor.into_parts().map_err(|e| pack_error(what, e))?;
        let stable = stable_param_id(&name);
        if let Some(old) = id {
            ids.insert(old, stable);
        }
        tensors.push(burn_pack::Tensor::new(
            name,
            dtype,
            shape,
            Some(stable),
            data,
        ));
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = burn_pack::Writer::new(tensors);
    for (k, v) in &metadata {
        writer = writer.with_metadata(k, v);
    }
    for (k, v) in &scalars {
        writer = writer.with_scalar(k, *v);
    }
    let out = writer.into_bytes().map_err(|e| pack_error(what, e))?;
    Ok((out.to_vec(), ids))
}

/// Optimiser-state burnpack bytes (keyed by parameter id: tensors `"{id}.{field}"`, scalars
/// `"{id}.…"`, module paths under `"{id}"`) re-keyed by `ids`, in name order.
pub fn optimizer_with_ids(bytes: &[u8], ids: &IdMap, what: &str) -> Result<Vec<u8>, CoreError> {
    let rekey = |key: &str| -> String {
        let (head, rest) = key
            .split_once('.')
            .map_or((key, None), |(h, r)| (h, Some(r)));
        match head.parse::<u64>().ok().and_then(|id| ids.get(&id)) {
            Some(new) => match rest {
                Some(rest) => format!("{new}.{rest}"),
                None => new.to_string(),
            },
            None => key.to_string(),
        }
    };
    let reader = pack_reader(bytes, what)?;
    let metadata = reader.metadata().clone();
    let scalars = reader.scalars().clone();
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(|e| pack_error(what, e))? {
        let (name, dtype, shape, id, data) =
            tensor.into_parts().map_err(|e| pack_error(what, e))?;
        let id = id.map(|id| ids.get(&id).copied().unwrap_or(id));
        tensors.push(burn_pack::Tensor::new(rekey(&name), dtype, shape, id, data));
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let mut writer = burn_pack::Writer::new(tensors);
    for (k, v) in &metadata {
        writer = writer.with_metadata(&rekey(k), v);
    }
    for (k, v) in &scalars {
        writer = writer.with_scalar(&rekey(k), *v);
    }
    let out = writer.into_bytes().map_err(|e| pack_error(what, e))?;
    Ok(out.to_vec())
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
    use burn::prelude::*;

    fn input() -> InputSpec {
        InputSpec {
            shape: vec![6],
            num_classes: 3,
            mean: vec![0.0],
            std: vec![1.0],
        }
    }

    #[test]
    fn stable_ids_make_the_same_weights_the_same_bytes_and_the_digest_ignores_ids() {
        let device = Device::flex();
        let a = ModelConfig::mlp(&[5]).init(&input(), &device);
        let raw = module_bytes(&a).unwrap();
        // The same weights under other (random) ids: other bytes, the same content.
        struct FreshIds;
        impl burn::module::ModuleMapper for FreshIds {
            fn map_float<const D: usize>(
                &mut self,
                mut param: burn::module::Param<Tensor<D>>,
            ) -> burn::module::Param<Tensor<D>> {
                param.id = burn::module::ParamId::new();
                param
            }
        }
        let again = a.clone().map(&mut FreshIds);
        assert_ne!(module_bytes(&again).unwrap(), raw);
        let (stable_a, ids) = with_stable_ids(&raw, "a").unwrap();
        assert!(!ids.is_empty());
        let (stable_b, _) = with_stable_ids(&module_bytes(&again).unwrap(), "b").unwrap();
        assert_eq!(stable_a, stable_b);
        assert_eq!(
            content_digest(&raw, "raw").unwrap(),
            content_digest(&stable_a, "stable").unwrap()
        );
        // Stable ids are what a load gives the module: saving it again changes nothing.
        let loaded = load_model_bytes(
            ModelConfig::mlp(&[5]).init(&input(), &device),
            &stable_a,
            "stable",
        )
        .unwrap();
        let (resaved, ids) = with_stable_ids(&module_bytes(&loaded).unwrap(), "x").unwrap();
        assert_eq!(resaved, stable_a);
        assert!(ids.iter().all(|(old, new)| old == new));
    }

    #[test]
    fn the_content_digest_sees_one_flipped_bit_and_non_finite_weights_are_named() {
        let device = Device::flex();
        let model = ModelConfig::mlp(&[5]).init(&input(), &device);
        let bytes = module_bytes(&model).unwrap();
        let digest = content_digest(&bytes, "m").unwrap();
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 3] ^= 1;
        assert_ne!(content_digest(&flipped, "m").unwrap(), digest);
        assert_eq!(first_non_finite(&bytes, "m").unwrap(), None);
        // A NaN in the last f32 of the data section.
        let mut nan = bytes.clone();
        nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(first_non_finite(&nan, "m").unwrap().is_some());
        assert!(content_digest(b"junk", "junk.bpk").is_err());
    }

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
