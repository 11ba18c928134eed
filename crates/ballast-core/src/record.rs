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
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| decode(format!("not a valid burnpack checkpoint: {e:?}")))?;
    model
        .try_load_record(record)
        .map_err(|e| decode(format!("does not fit this model: {e:?}")))
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
