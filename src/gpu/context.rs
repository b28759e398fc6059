//! Adapter selection, device creation with the adapter's own limits, and buffer helpers.
//!
//! wgpu's default error handler panics; here every validation error is captured and returned
//! as [`Error::Gpu`] at the next synchronisation point instead.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Whether kernels are compiled with naga's runtime checks (see [`ShaderChecks`]).
    pub shader_checks: ShaderChecks,
    errors: Arc<Mutex<Vec<String>>>,
    readbacks: AtomicU64,
    /// With [`GpuContext::with_canaries`]: every storage buffer made, with guard words past
    /// its end.
    canaries: Option<Mutex<Vec<Guarded>>>,
    /// Every storage buffer made so far: its label and bytes ([`GpuContext::buffers_made`]).
    made: Mutex<Vec<(String, u64)>>,
}

/// How kernels are compiled. Every kernel guards each index it uses with its own bounds (a
/// launch covers whole workgroups, so an invocation past the end returns first), which the
/// canary test (`tests/canaries.rs`) holds every kernel to; so they run as trusted modules,
/// without the clamps and loop bounds naga would add to every access (which keep NVIDIA's
/// compiler from unrolling the fragment loops). `Checked` puts those checks back
/// (`--checked-shaders`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShaderChecks {
    #[default]
    Trusted,
    Checked,
}

static DEFAULT_CHECKS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every context opened from now on compile its kernels checked (`--checked-shaders`)
/// or not.
pub fn set_default_shader_checks(checks: ShaderChecks) {
    DEFAULT_CHECKS.store(checks == ShaderChecks::Checked, Ordering::Relaxed);
}

/// A storage buffer made in canary mode: its label, the bytes asked for (rounded to words),
/// and the buffer, longer by [`GUARD_BYTES`] of [`CANARY`] words.
struct Guarded {
    label: String,
    bytes: u64,
    buffer: wgpu::Buffer,
}

/// The guard past every storage buffer's end in canary mode: inside the buffer and so inside
/// every binding of it, where a write one element too far lands (a robust driver would drop
/// a write past the binding, hiding it).
pub const GUARD_BYTES: u64 = 256;

/// A guard word: a signalling NaN's bits, which no kernel writes as a result.
pub const CANARY: u32 = 0x7FA5_C0DE;

/// What a storage buffer can be: bound, and copied from (readbacks) and to (clears, writes).
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// What `shaderfit devices` prints for one adapter.
#[derive(Clone, Debug)]
pub struct AdapterReport {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub timestamps: bool,
}

fn instance() -> wgpu::Instance {
    // Reads WGPU_BACKEND (e.g. `vulkan`, `gl`, `vulkan,gl`), WGPU_DEBUG and WGPU_VALIDATION.
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends();
    wgpu::Instance::new(desc)
}

/// The backends `WGPU_BACKEND` names; all when it is unset or empty (`WGPU_BACKEND=` reads as
/// unset, as in a shell that clears a variable that way, not as no backend at all).
fn backends() -> wgpu::Backends {
    match std::env::var_os("WGPU_BACKEND") {
        Some(v) if v.is_empty() => wgpu::Backends::all(),
        _ => wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
    }
}

/// An error naming `WGPU_BACKEND` when it is set but names no backend wgpu knows (otherwise
/// no adapter is found, and the advice to install a driver would mislead).
pub fn check_backend_variable() -> Result<()> {
    let Some(value) = std::env::var_os("WGPU_BACKEND").filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    if backends().is_empty() {
        return Err(Error::Gpu(format!(
            "WGPU_BACKEND is '{}', which names no backend; expected vulkan, metal, dx12 or gl, or a comma list of them",
            value.to_string_lossy()
        )));
    }
    Ok(())
}

/// Every adapter the instance sees, with what matters for training.
pub fn list_adapters() -> Vec<AdapterReport> {
    let instance = instance();
    pollster::block_on(instance.enumerate_adapters(backends()))
        .into_iter()
        .map(|a| AdapterReport {
            info: a.get_info(),
            limits: a.limits(),
            timestamps: a.features().contains(wgpu::Features::TIMESTAMP_QUERY),
        })
        .collect()
}

impl GpuContext {
    /// Opens a device on the adapter whose name contains `name` (case-insensitive), else the
    /// one named by `WGPU_ADAPTER_NAME`, else the default high-performance adapter.
    pub fn new(name: Option<&str>) -> Result<GpuContext> {
        check_backend_variable()?;
        let instance = instance();
        let env_name = std::env::var("WGPU_ADAPTER_NAME")
            .ok()
            .filter(|s| !s.is_empty());
        let (wanted, source) = match (name, env_name.as_deref()) {
            (Some(n), _) => (Some(n.to_string()), "--adapter"),
            (None, Some(n)) => (Some(n.to_string()), "WGPU_ADAPTER_NAME"),
            (None, None) => (None, ""),
        };
        let adapter = match wanted {
            Some(wanted) => {
                let adapters = pollster::block_on(instance.enumerate_adapters(backends()));
                let needle = wanted.to_lowercase();
                let names: Vec<String> = adapters
                    .iter()
                    .map(|a| {
                        let i = a.get_info();
                        format!("'{}' ({:?})", i.name, i.backend)
                    })
                    .collect();
                adapters
                    .into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&needle))
                    .ok_or_else(|| {
                        Error::Gpu(format!(
                            "{source}: no adapter name contains '{wanted}'; adapters found: {}",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        ))
                    })?
            }
            None => pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::from_env()
                    .unwrap_or(wgpu::PowerPreference::HighPerformance),
                ..Default::default()
            }))
            .map_err(|e| {
                Error::Gpu(format!(
                    "no GPU adapter found ({e}); install a Vulkan, Metal or DX12 driver, or on a \
                     machine without a GPU the software one: apt-get install mesa-vulkan-drivers libvulkan1"
                ))
            })?,
        };
        Self::open(adapter, None)
    }

    /// As [`GpuContext::new`] with no name, asking for `limits` instead of everything the
    /// adapter has: WebGPU's defaults (`wgpu::Limits::default()`), for example, to check that
    /// training fits the limits every adapter meets.
    pub fn with_limits(limits: wgpu::Limits) -> Result<GpuContext> {
        check_backend_variable()?;
        let adapter = pollster::block_on(instance().request_adapter(&Default::default()))
            .map_err(|e| Error::Gpu(format!("no GPU adapter found ({e})")))?;
        Self::open(adapter, Some(limits))
    }

    /// Opens a device on adapter `index` of [`list_adapters`] (for running on several at once).
    pub fn on_adapter(index: usize) -> Result<GpuContext> {
        let mut adapters = pollster::block_on(instance().enumerate_adapters(backends()));
        if index >= adapters.len() {
            return Err(Error::Gpu(format!(
                "no adapter [{index}]; {} found (see `shaderfit devices`)",
                adapters.len()
            )));
        }
        Self::open(adapters.swap_remove(index), None)
    }

    fn open(adapter: wgpu::Adapter, limits: Option<wgpu::Limits>) -> Result<GpuContext> {
        let info = adapter.get_info();
        // wgpu's default limits are lower than most adapters' (storage binding size, buffers
        // per stage, workgroup storage): ask for everything the adapter has.
        let limits = limits.unwrap_or_else(|| adapter.limits());
        // Timestamps for profiles: around passes, and between dispatches inside one pass
        // where the adapter can (a step's launches timed as they really run).
        let wanted =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shaderfit"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("cannot open a device on '{}': {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.to_string());
        }));
        // A lost device (driver reset, GPU removed, out of memory) becomes an error at the next
        // check, naming the adapter, rather than a hang or a panic.
        let lost = errors.clone();
        let adapter = info.name.clone();
        device.set_device_lost_callback(move |reason, message| {
            lost.lock().unwrap_or_else(|p| p.into_inner()).push(format!(
                "the device on '{adapter}' was lost ({reason:?}): {message}"
            ));
        });
        let env = std::env::var_os("SHADERFIT_CHECKED_SHADERS").is_some_and(|v| v == "1");
        let shader_checks = match DEFAULT_CHECKS.load(Ordering::Relaxed) || env {
            true => ShaderChecks::Checked,
            false => ShaderChecks::Trusted,
        };
        Ok(GpuContext {
            device,
            queue,
            info,
            limits,
            features,
            shader_checks,
            errors,
            readbacks: AtomicU64::new(0),
            canaries: None,
            made: Mutex::new(Vec::new()),
        })
    }

    /// This context in canary mode, for the test that every kernel stays within its buffers:
    /// each storage buffer made from now on ends with [`GUARD_BYTES`] of [`CANARY`] words,
    /// inside the buffer (so inside every binding of it), and [`GpuContext::check_canaries`]
    /// says whether any was overwritten.
    pub fn with_canaries(mut self) -> GpuContext {
        self.canaries = Some(Mutex::new(Vec::new()));
        self
    }

    /// Every guard word still a canary, or the buffers (by label) whose guard a kernel wrote,
    /// with the first word changed. One readback.
    pub fn check_canaries(&self) -> std::result::Result<(), String> {
        let Some(canaries) = &self.canaries else {
            return Ok(());
        };
        let guarded = canaries.lock().unwrap_or_else(|p| p.into_inner());
        if guarded.is_empty() {
            return Ok(());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("canaries"),
            size: GUARD_BYTES * guarded.len() as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for (i, g) in guarded.iter().enumerate() {
            encoder.copy_buffer_to_buffer(
                &g.buffer,
                g.bytes,
                &staging,
                i as u64 * GUARD_BYTES,
                GUARD_BYTES,
            );
        }
        self.queue.submit([encoder.finish()]);
        let bytes = self
            .map_and_read(&staging, staging.size())
            .map_err(|e| e.to_string())?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        let per = (GUARD_BYTES / 4) as usize;
        let broken: Vec<String> = guarded
            .iter()
            .zip(words.chunks(per))
            .filter_map(|(g, w)| {
                let at = w.iter().position(|&v| v != CANARY)?;
                Some(format!(
                    "'{}' ({} bytes): word {at} past its end is {:#010x}",
                    g.label, g.bytes, w[at]
                ))
            })
            .collect();
        match broken.is_empty() {
            true => Ok(()),
            false => Err(broken.join("; ")),
        }
    }

    /// In canary mode, `data` padded to whole words and followed by the guard.
    fn guarded(&self, label: &str, data: &[u8], usage: wgpu::BufferUsages) -> Option<wgpu::Buffer> {
        let canaries = self.canaries.as_ref()?;
        let bytes = (data.len() as u64).max(4).next_multiple_of(4);
        let mut contents = data.to_vec();
        contents.resize(bytes as usize, 0);
        contents.extend(
            std::iter::repeat_n(CANARY.to_le_bytes(), (GUARD_BYTES / 4) as usize).flatten(),
        );
        let buffer = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &contents,
                usage: usage | wgpu::BufferUsages::COPY_SRC,
            });
        canaries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Guarded {
                label: label.to_string(),
                bytes,
                buffer: buffer.clone(),
            });
        Some(buffer)
    }

    /// The first GPU error since the last check, if any.
    pub fn check_errors(&self) -> Result<()> {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        let first = errors.drain(..).next();
        match first {
            Some(e) => Err(Error::Gpu(e)),
            None => Ok(()),
        }
    }

    /// GPU-to-CPU readbacks (buffer maps) since the context was created: the trainer's
    /// "no readback inside an epoch" promise is checked against this counter.
    pub fn readback_count(&self) -> u64 {
        self.readbacks.load(Ordering::Relaxed)
    }

    /// Floats per `min_storage_buffer_offset_alignment`, and at least 4: tensors bound at an
    /// offset into a shared buffer start at multiples of this, and kernels that read vec4
    /// (the optimizer over the flat parameter buffer) need 16-byte multiples.
    pub fn binding_align_floats(&self) -> usize {
        (self.limits.min_storage_buffer_offset_alignment as usize / 4).max(4)
    }

    /// Every storage buffer made through this context so far (dropped ones included), as
    /// `(label, bytes)` in the order made: what a model's passes cost in GPU memory.
    pub fn buffers_made(&self) -> Vec<(String, u64)> {
        self.made.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn note_made(&self, label: &str, bytes: u64) {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.push((label.to_string(), bytes));
    }

    /// A zeroed storage buffer of `bytes` (at least 4) that can be copied from and to.
    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        let size = bytes.max(4).next_multiple_of(4);
        self.note_made(label, size);
        if self.canaries.is_some() {
            let zeros = vec![0u8; size as usize];
            return self.guarded(label, &zeros, STORAGE).expect("canary mode");
        }
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `data`.
    pub fn storage_init<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.is_empty() {
            return self.storage(label, 4);
        }
        self.buffer_init(label, bytes, STORAGE)
    }

    /// Bytes packed 4 per u32 word (little-endian), zero-padded: how u8 data is stored.
    pub fn storage_u8(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len().next_multiple_of(4).max(4), 0);
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        self.buffer_init(label, &padded, usage)
    }

    /// A buffer holding `contents`, guarded in canary mode.
    fn buffer_init(&self, label: &str, contents: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.note_made(label, contents.len() as u64);
        if let Some(buffer) = self.guarded(label, contents, usage) {
            return buffer;
        }
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
    }

    /// A uniform buffer holding one `T`.
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.uniform_bytes(label, bytemuck::bytes_of(value))
    }

    /// A uniform buffer holding `bytes`.
    pub fn uniform_bytes(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Copies `bytes` bytes of `buffer` from `offset` to the CPU and waits for them: one
    /// readback. Work submitted earlier completes first.
    pub fn read_bytes(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let size = bytes.next_multiple_of(4).max(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        self.map_and_read(&staging, size).map(|mut v| {
            v.truncate(bytes as usize);
            v
        })
    }

    /// Maps a MAP_READ buffer, waits, and copies its first `size` bytes out.
    pub fn map_and_read(&self, staging: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        self.map_and_read_with(staging, size, &mut || {})
    }

    /// As [`GpuContext::map_and_read`], calling `tick` about every 100 ms while the GPU is
    /// still busy (callbacks of finished submissions have run by then: progress reports).
    pub fn map_and_read_with(
        &self,
        staging: &wgpu::Buffer,
        size: u64,
        tick: &mut dyn FnMut(),
    ) -> Result<Vec<u8>> {
        self.readbacks.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| {
            let _ = tx.send(r);
        });
        loop {
            let wait = wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(std::time::Duration::from_millis(100)),
            };
            match self.device.poll(wait) {
                Ok(_) => break,
                Err(wgpu::PollError::Timeout) => tick(),
                Err(e) => return Err(Error::Gpu(format!("waiting for the GPU: {e}"))),
            }
        }
        self.check_errors()?;
        rx.recv()
            .map_err(|_| Error::Gpu("buffer map was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("mapping a buffer for readback: {e}")))?;
        let data = staging
            .get_mapped_range(0..size)
            .map_err(|e| Error::Gpu(format!("reading a mapped buffer: {e}")))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    pub fn read_f32(
        &self,
        buffer: &wgpu::Buffer,
        offset_floats: usize,
        len: usize,
    ) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(buffer, offset_floats as u64 * 4, len as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    pub fn read_u32(&self, buffer: &wgpu::Buffer, offset: usize, len: usize) -> Result<Vec<u32>> {
        let bytes = self.read_bytes(buffer, offset as u64 * 4, len as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// A command encoder labelled `label`.
    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Submits `encoder`'s commands without waiting, adding `n` to `counter` once the GPU has
    /// run them (from a completion callback: no readback).
    pub fn submit_counted(
        &self,
        encoder: wgpu::CommandEncoder,
        counter: &Arc<AtomicUsize>,
        n: usize,
    ) -> wgpu::SubmissionIndex {
        let index = self.queue.submit([encoder.finish()]);
        let counter = counter.clone();
        self.queue.on_submitted_work_done(move || {
            counter.fetch_add(n, Ordering::Relaxed);
        });
        index
    }

    /// Submits an encoder's commands and waits for them (tests and one-off work only; the
    /// trainer never waits per step).
    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder) -> Result<()> {
        self.queue.submit([encoder.finish()]);
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        self.check_errors()
    }
}
