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

    /// Chooses natively (blocking GPU initialisation).
    ///
    /// # Errors
    /// [`Error::BackendUnavailable`] when `Gpu` is asked for and no adapter initialises, or
    /// the build lacks the backend.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn select(request: BackendRequest) -> Result<Self, Error> {
        match request {
            BackendRequest::Cpu => Self::cpu_or_err("CPU requested"),
            BackendRequest::Ndarray => Self::ndarray_or_err(),
            BackendRequest::Gpu => Self::gpu_native(),
            BackendRequest::Auto => match Self::gpu_native() {
                Ok(b) => Ok(b),
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

    #[cfg(not(target_arch = "wasm32"))]
    fn gpu_native() -> Result<Self, Error> {
        #[cfg(feature = "wgpu")]
        {
            let device = Device::wgpu_options()
                .init()
                .map_err(|e| Error::BackendUnavailable(e.to_string()))?;
            Ok(Self {
                device,
                kind: BackendKind::Gpu,
                reason: "GPU adapter initialised".into(),
            })
        }
        #[cfg(not(feature = "wgpu"))]
        Err(Error::BackendUnavailable(
            "built without the `wgpu` feature".into(),
        ))
    }
}
