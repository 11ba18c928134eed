//! Which device the page computes on: Burn's WebGPU backend when the browser gives an
//! adapter, else the pure-Rust CPU backend (`flex`). Chosen once per page load.

use burn::prelude::Device;
use serde::Serialize;
use std::cell::RefCell;

#[derive(Clone, Debug, Serialize)]
pub struct BackendInfo {
    /// "webgpu" or "cpu".
    pub name: String,
    /// What the adapter says about itself (WebGPU only).
    pub adapter: Option<String>,
    /// Why WebGPU is not used, when it was asked for or auto-detected and failed.
    pub fallback_reason: Option<String>,
}

thread_local! {
    static ACTIVE: RefCell<Option<(Device, BackendInfo)>> = const { RefCell::new(None) };
}

/// The device chosen by [`select`] (the CPU until then).
pub fn device() -> Device {
    ACTIVE
        .with(|a| a.borrow().as_ref().map(|(d, _)| d.clone()))
        .unwrap_or_else(Device::flex)
}

pub fn info() -> Option<BackendInfo> {
    ACTIVE.with(|a| a.borrow().as_ref().map(|(_, i)| i.clone()))
}

/// `choice`: "auto" (WebGPU if available), "webgpu" or "cpu". The first call decides; later
/// calls return that decision (a WebGPU device can be created only once per page).
pub async fn select(choice: &str) -> Result<BackendInfo, String> {
    if let Some(info) = info() {
        return Ok(info);
    }
    let (device, info) = match choice {
        "cpu" => (
            Device::flex(),
            BackendInfo {
                name: "cpu".into(),
                adapter: None,
                fallback_reason: None,
            },
        ),
        "auto" | "webgpu" => match webgpu().await {
            Ok((device, adapter)) => (
                device,
                BackendInfo {
                    name: "webgpu".into(),
                    adapter: Some(adapter),
                    fallback_reason: None,
                },
            ),
            Err(reason) => (
                Device::flex(),
                BackendInfo {
                    name: "cpu".into(),
                    adapter: None,
                    fallback_reason: Some(reason),
                },
            ),
        },
        other => {
            return Err(format!(
                "unknown backend `{other}`: expected auto, webgpu or cpu"
            ));
        }
    };
    ACTIVE.with(|a| *a.borrow_mut() = Some((device, info.clone())));
    Ok(info)
}

#[cfg(all(feature = "webgpu", target_family = "wasm"))]
async fn webgpu() -> Result<(Device, String), String> {
    // The engines run in a Web Worker: the navigator is the global scope's, not a window's.
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .map_err(|_| "navigator unreadable")?;
    let gpu =
        js_sys::Reflect::get(&navigator, &"gpu".into()).map_err(|_| "navigator.gpu unreadable")?;
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser exposes no WebGPU (navigator.gpu is missing)".into());
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| format!("WebGPU initialisation failed: {e:?}"))?;
    let a = setup.adapter.get_info();
    let name = [a.name.clone(), a.driver.clone(), a.driver_info.clone()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    Ok((device, format!("{name} ({:?})", a.device_type)))
}

#[cfg(not(all(feature = "webgpu", target_family = "wasm")))]
async fn webgpu() -> Result<(Device, String), String> {
    Err("this build has no WebGPU backend".into())
}
