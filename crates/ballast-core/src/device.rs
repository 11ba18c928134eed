//! Backend selection at run time. Each backend is a cargo feature of `ballast-core`;
//! asking for one that was not compiled in is an error that names the feature.

use burn::prelude::Device;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A compute backend a user can ask for with `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Burn's pure-Rust `flex` CPU backend (cargo feature `flex`, on by default).
    Cpu,
    /// Native GPU through wgpu: Vulkan, Metal or DX12 (cargo feature `wgpu`).
    Wgpu,
    /// NVIDIA GPU through CUDA (cargo feature `cuda`).
    Cuda,
    /// Burn's older pure-Rust CPU backend, `ndarray` (cargo feature `ndarray`). Deprecated by
    /// Burn; kept to compare.
    NdArray,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error(
        "backend `{backend}` is not compiled into this binary: rebuild with `--features {feature}` (e.g. `cargo run --release --features {feature} -- ...`)"
    )]
    NotCompiled {
        backend: Backend,
        feature: &'static str,
    },
    #[error("unknown device `{0}`: expected one of cpu, wgpu, cuda, ndarray")]
    Unknown(String),
}

impl Backend {
    pub const ALL: [Backend; 4] = [Backend::Cpu, Backend::Wgpu, Backend::Cuda, Backend::NdArray];

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            Backend::Cpu => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
            Backend::NdArray => "ndarray",
        }
    }

    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Cpu => cfg!(feature = "flex"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Cuda => cfg!(feature = "cuda"),
            Backend::NdArray => cfg!(feature = "ndarray"),
        }
    }

    /// The plain (no-autodiff) device for this backend.
    pub fn device(self) -> Result<Device, DeviceError> {
        let not_compiled = DeviceError::NotCompiled {
            backend: self,
            feature: self.feature(),
        };
        match self {
            #[cfg(feature = "flex")]
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::prelude::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(0)),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::NdArray => Ok(Device::ndarray()),
            #[allow(unreachable_patterns)]
            _ => Err(not_compiled),
        }
    }

    /// `n` devices of this backend for data parallelism: the CPU device `n` times (one
    /// thread per replica on the same cores: a correctness path, not a speed-up), or GPUs
    /// 0..n (wgpu: the first `n` discrete GPUs; CUDA: devices 0..n).
    pub fn devices(self, n: usize) -> Result<Vec<Device>, DeviceError> {
        let first = self.device()?;
        if n <= 1 {
            return Ok(vec![first]);
        }
        Ok(match self {
            Backend::Cpu | Backend::NdArray => vec![first; n],
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => (0..n)
                .map(|i| Device::wgpu(burn::prelude::DeviceKind::DiscreteGpu(i)))
                .collect(),
            #[cfg(feature = "cuda")]
            Backend::Cuda => (0..n).map(Device::cuda).collect(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("device() refuses a backend that is not compiled in"),
        })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
            Backend::NdArray => "ndarray",
        })
    }
}

impl FromStr for Backend {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Backend::Cpu),
            "wgpu" | "gpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            "ndarray" => Ok(Backend::NdArray),
            _ => Err(DeviceError::Unknown(s.to_string())),
        }
    }
}

/// The adapter a GPU device opened, as it names itself (e.g. `NVIDIA H200`, or `llvmpipe`
/// for Mesa's software Vulkan); `None` on the CPU backend.
pub fn adapter_name(device: &Device) -> Option<String> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    {
        device.identity().map(|id| id.name)
    }
    #[cfg(not(any(feature = "wgpu", feature = "cuda")))]
    {
        let _ = device;
        None
    }
}

/// Bytes of device memory the allocator holds now (its pools keep pages once taken, so after a
/// workload this is the workload's peak plus pool slack); `None` on a backend that does not
/// report its allocator (Burn's CPU backend).
pub fn reserved_memory(device: &Device) -> Option<u64> {
    device.memory_pool_usage().map(|u| u.bytes_reserved)
}

/// Asks the device's allocator to give back the memory it can (between benchmarked workloads,
/// so each one's [`reserved_memory`] is its own).
pub fn release_memory(device: &Device) {
    device.memory_cleanup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_rejects_unknown() {
        assert_eq!("cpu".parse::<Backend>(), Ok(Backend::Cpu));
        assert_eq!("CUDA".parse::<Backend>(), Ok(Backend::Cuda));
        assert!(matches!(
            "tpu".parse::<Backend>(),
            Err(DeviceError::Unknown(_))
        ));
    }

    #[test]
    fn missing_backend_names_its_feature() {
        for backend in Backend::ALL {
            match backend.device() {
                Ok(_) => assert!(backend.is_compiled()),
                Err(e) => {
                    assert!(!backend.is_compiled());
                    let msg = e.to_string();
                    assert!(
                        msg.contains(&format!("--features {}", backend.feature())),
                        "{msg}"
                    );
                }
            }
        }
    }
}
