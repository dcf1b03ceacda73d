//! Run-time backend choice: the GPU through burn-wgpu (WebGPU in the browser) or the CPU
//! through burn-flex, the fastest CPU backend measured (docs/backends.md).

use std::fmt;

use burn::tensor::Device;

use crate::error::Error;

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendRequest {
    /// The GPU when an adapter is available, else the CPU.
    #[default]
    Auto,
    /// The GPU only (burn-wgpu: WebGPU in a browser, Vulkan/Metal/DX12 natively).
    Gpu,
    /// The CPU only (burn-flex).
    Cpu,
    /// burn-ndarray on the CPU, for comparisons (builds with the `ndarray` feature only).
    Ndarray,
}

impl std::str::FromStr for BackendRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "gpu" | "wgpu" | "webgpu" => Ok(Self::Gpu),
            "cpu" | "flex" => Ok(Self::Cpu),
            "ndarray" => Ok(Self::Ndarray),
            other => Err(format!(
                "unknown backend {other:?} (expected auto, wgpu/webgpu or cpu)"
            )),
        }
    }
}

/// The backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn-wgpu.
    Gpu,
    /// burn-flex on the CPU.
    Cpu,
    /// burn-ndarray on the CPU (kept for comparison; slower than flex).
    Ndarray,
}

impl BackendKind {
    /// A short name for logs and the UI: `"webgpu"`/`"wgpu"`, `"cpu"`, `"ndarray"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpu if cfg!(target_arch = "wasm32") => "webgpu",
            Self::Gpu => "wgpu",
            Self::Cpu => "cpu",
            Self::Ndarray => "ndarray",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A device with the reason it was chosen.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The burn device to run on.
    pub device: Device,
    /// Which backend that is.
    pub kind: BackendKind,
    /// Why it was chosen, for the user.
    pub reason: String,
}

impl Backend {
    /// The CPU backend (burn-flex).
    #[cfg(feature = "flex")]
    pub fn cpu(reason: impl Into<String>) -> Self {
        Self {
            device: Device::flex(),
            kind: BackendKind::Cpu,
            reason: reason.into(),
        }
    }

    /// The burn-ndarray CPU backend, for comparisons.
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)] // burn marks ndarray deprecated in favour of flex; kept for benchmarks
    pub fn ndarray(reason: impl Into<String>) -> Self {
        Self {
            device: Device::ndarray(),
            kind: BackendKind::Ndarray,
            reason: reason.into(),
        }
    }

    /// Chooses natively (blocking GPU initialisation). `Auto` takes a hardware GPU adapter and
    /// never a software one (Mesa's lavapipe / llvmpipe report themselves as `Cpu` devices: on
    /// them the network runs hundreds of times slower than on burn-flex); the reason says which
    /// adapter was found and why the choice fell where it did.
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] when `Gpu` is asked for and no adapter initialises, or
    /// the build lacks the backend.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn select(request: BackendRequest) -> Result<Self, Error> {
        match request {
            BackendRequest::Cpu => Self::cpu_or_err("CPU requested"),
            BackendRequest::Ndarray => Self::ndarray_or_err(),
            BackendRequest::Gpu => Self::gpu_native().map(|(b, software)| match software {
                Some(name) => Self {
                    reason: format!(
                        "wgpu requested: {name} is a software adapter, expect it to be far slower than --backend cpu"
                    ),
                    ..b
                },
                None => b,
            }),
            BackendRequest::Auto => match Self::gpu_native() {
                Ok((b, None)) => Ok(b),
                Ok((_, Some(name))) => Self::cpu_or_err(format!(
                    "the only GPU adapter, {name}, is a software one (slower than the CPU backend)"
                )),
                Err(e) => Self::cpu_or_err(format!("no GPU: {e}")),
            },
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn cpu_or_err(reason: impl Into<String>) -> Result<Self, Error> {
        #[cfg(feature = "flex")]
        return Ok(Self::cpu(reason));
        #[cfg(not(feature = "flex"))]
        {
            let _ = reason.into();
            Err(Error::BackendUnavailable(
                "built without the `flex` feature".into(),
            ))
        }
    }

    /// burn-ndarray when the build has it.
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] without the `ndarray` feature.
    pub fn ndarray_or_err() -> Result<Self, Error> {
        #[cfg(feature = "ndarray")]
        return Ok(Self::ndarray("ndarray requested"));
        #[cfg(not(feature = "ndarray"))]
        Err(Error::BackendUnavailable(
            "built without the `ndarray` feature".into(),
        ))
    }

    /// The GPU through burn-wgpu, and the adapter's name when it is a software one. Opened once
    /// per process and shared after: burn-wgpu registers its runtime once, and a second
    /// registration fails ("Service already initialized"), so a second `select` — another
    /// encoder in the same program, or the next test in a test binary — would have fallen back
    /// to the CPU.
    #[cfg(not(target_arch = "wasm32"))]
    fn gpu_native() -> Result<(Self, Option<String>), Error> {
        #[cfg(feature = "wgpu")]
        {
            use burn::tensor::wgpu::wgpu::DeviceType;
            use std::sync::Mutex;
            static OPENED: Mutex<Option<(Device, String, bool)>> = Mutex::new(None);
            let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
            if opened.is_none() {
                let (device, setup) = Device::wgpu_options()
                    .init_with_setup()
                    .map_err(|e| Error::BackendUnavailable(e.to_string()))?;
                let info = setup.adapter.get_info();
                let name = format!("{} ({:?})", info.name, info.backend);
                *opened = Some((device, name, info.device_type == DeviceType::Cpu));
            }
            let (device, name, software) = opened.clone().expect("opened above");
            Ok((
                Self {
                    device,
                    kind: BackendKind::Gpu,
                    reason: format!("GPU adapter {name}"),
                },
                software.then_some(name),
            ))
        }
        #[cfg(not(feature = "wgpu"))]
        Err(Error::BackendUnavailable(
            "built without the `wgpu` feature".into(),
        ))
    }
}

#[cfg(all(test, feature = "wgpu"))]
mod tests {
    use super::*;

    /// A second `select` of the GPU in one process gets the same device (burn-wgpu registers its
    /// runtime once; a second registration used to fail and fall back to the CPU). Needs a GPU
    /// adapter (lavapipe will do); without one it says so.
    #[test]
    fn the_gpu_opens_again_in_one_process() {
        let first = match Backend::select(BackendRequest::Gpu) {
            Ok(b) => b,
            Err(e) => return eprintln!("no GPU adapter here ({e})"),
        };
        for _ in 0..2 {
            let again = Backend::select(BackendRequest::Gpu).expect("the GPU, again");
            assert_eq!(again.device, first.device);
            assert_eq!(again.kind, BackendKind::Gpu);
        }
    }
}
