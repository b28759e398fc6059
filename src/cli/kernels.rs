//! Which kernels run, as the command line decides it: the environment is read here and the
//! choice injected into the library as a [`KernelPolicy`].
//!
//! - CPU adapters (lavapipe, WARP, SwiftShader): the fixed table, measured; timing candidates
//!   there would cost seconds of shader compilation each.
//! - GPUs: the tuner, its choices kept in `$SHADERFIT_TUNING_FILE`, else
//!   `$XDG_CACHE_HOME/shaderfit/matmul-tuning.json`, else `~/.cache/shaderfit/...`;
//!   `SHADERFIT_TUNING=off` takes the fixed table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;
use crate::gpu::kernels::{tuner, FixedTable, KernelPolicy, Tuned, Tuner};

fn var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Where the tuner keeps its choices, if anywhere.
fn tuning_file() -> Option<PathBuf> {
    var("SHADERFIT_TUNING_FILE").map(PathBuf::from).or_else(|| {
        let cache = var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(cache.join("shaderfit").join("matmul-tuning.json"))
    })
}

/// The tuner for this adapter, or `None` on CPU adapters and with `SHADERFIT_TUNING=off`.
/// Its file, when it cannot be read as this version's, is reported (`Err`) together with
/// a tuner that starts afresh and will replace it.
fn tuner(info: &wgpu::AdapterInfo) -> Option<(Tuner, Result<()>)> {
    let off = std::env::var("SHADERFIT_TUNING").is_ok_and(|v| v == "off");
    if info.device_type == wgpu::DeviceType::Cpu || off {
        return None;
    }
    let adapter = tuner::adapter_key(info);
    Some(match tuning_file() {
        None => (Tuner::in_memory(&adapter), Ok(())),
        Some(path) => match Tuner::open(&path, &adapter) {
            Ok(t) => (t, Ok(())),
            Err(e) => (Tuner::replacing(&path, &adapter), Err(e)),
        },
    })
}

/// The policy for training and benchmarks on this adapter; a tuning file this version cannot
/// read is reported on stderr and replaced.
pub fn policy(info: &wgpu::AdapterInfo) -> Arc<dyn KernelPolicy> {
    match tuner(info) {
        None => Arc::new(FixedTable),
        Some((t, status)) => {
            if let Err(e) = status {
                eprintln!("warning: {e}; tuning afresh, and replacing the file");
            }
            Arc::new(Tuned(Arc::new(t)))
        }
    }
}

/// How this adapter picks its matmul kernels, for `shaderfit devices`.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    if info.device_type == wgpu::DeviceType::Cpu {
        return "fixed table (CPU adapter)".into();
    }
    match tuner(info) {
        None => "fixed table (SHADERFIT_TUNING=off)".into(),
        Some((_, Err(e))) => format!("tuned; {e} (it will be replaced)"),
        Some((t, Ok(()))) => format!(
            "tuned, {} shape classes recorded in {}",
            t.recorded(),
            t.path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "memory only (no cache directory)".into())
        ),
    }
}
