//! What an evaluation allocates, checked before anything is: the adapter can run the kernels,
//! the weights and the images to evaluate each fit one storage binding; and the evaluation
//! batch, the largest whose forward buffers fit. The training step's own checks build on these
//! (`crate::train::limits`).

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::{Network, ParamLayout};

/// One buffer to be made: what it is, its bytes, and what would make it smaller.
pub struct Need {
    pub what: String,
    pub bytes: u64,
    pub remedy: &'static str,
}

/// The largest evaluation batch chosen: validation at 1024 runs a tenth of the steps of
/// batch 128, each as wide as a GPU wants.
pub const EVAL_BATCH_MAX: usize = 1024;

/// What the evaluation passes' own buffers (outputs and forward scratch) may take together
/// at a batch chosen for them, beside a training step's.
pub const EVAL_MEMORY: u64 = 256 << 20;

/// The most bytes one buffer may have on `ctx`'s adapter: its storage-binding limit (every
/// buffer here is bound whole) or its buffer limit, whichever is lower.
pub fn buffer_limit(ctx: &GpuContext) -> u64 {
    ctx.limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size)
}

/// The adapter runs shaderfit's kernels (their workgroup sizes), and every one of `needs` fits
/// one buffer; the error names the first that does not, its size, the limit and the remedy.
pub fn check_needs(ctx: &GpuContext, needs: &[Need]) -> Result<()> {
    crate::gpu::kernels::variants::check_workgroups(&ctx.limits).map_err(|e| {
        Error::Gpu(format!(
            "the adapter '{}' cannot run shaderfit's kernels: {e} (they are written for WebGPU's default limits)",
            ctx.info.name
        ))
    })?;
    let limit = buffer_limit(ctx);
    match needs.iter().find(|n| n.bytes > limit) {
        Some(n) => Err(Error::Gpu(format!(
            "{} would need a {} buffer; the adapter '{}' allows {} per buffer: {}",
            n.what,
            size(n.bytes),
            ctx.info.name,
            size(limit),
            n.remedy
        ))),
        None => Ok(()),
    }
}

/// The bytes of `net`'s parameters on `ctx`'s adapter (each tensor at a binding-aligned
/// offset of one buffer).
pub fn param_bytes(ctx: &GpuContext, net: &Network) -> u64 {
    ParamLayout::trainable(net, ctx.binding_align_floats()).total as u64 * 4
}

/// The parameters' buffer, of `bytes`.
pub fn params_need(bytes: u64) -> Need {
    Need {
        what: format!("the parameters ({} floats)", bytes / 4),
        bytes,
        remedy: "use smaller layers",
    }
}

/// `what` images of `bytes` (a split, resident in one buffer).
pub fn images_need(what: &str, bytes: u64) -> Need {
    Need {
        what: format!("the {what} images"),
        bytes,
        remedy: "use a smaller dataset",
    }
}

/// The evaluation passes' batch: `requested` when given; else the largest up to
/// [`EVAL_BATCH_MAX`] and `longest` (the longest split evaluated) whose every buffer fits one
/// storage binding and all of them [`EVAL_MEMORY`], rounded down to a multiple of 64; never
/// below `floor` (a training batch, whose buffers have passed their check) unless `longest` is
/// shorter.
pub fn eval_batch(
    ctx: &GpuContext,
    net: &Network,
    (requested, floor): (Option<usize>, usize),
    longest: usize,
) -> usize {
    if let Some(b) = requested {
        return b;
    }
    let limit = buffer_limit(ctx);
    let fits = |batch: usize| {
        let bytes = eval_buffers(net, batch);
        bytes.iter().all(|&b| b <= limit) && bytes.iter().sum::<u64>() <= EVAL_MEMORY
    };
    let cap = EVAL_BATCH_MAX.min(longest).max(1);
    let floor = floor.min(cap);
    // fits() only shrinks as the batch grows: the largest that fits, by bisection.
    let (mut lo, mut hi) = (floor, cap);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match fits(mid) {
            true => lo = mid,
            false => hi = mid - 1,
        }
    }
    // A multiple of 64 rows where that stays above the floor: whole tiles for the kernels.
    match lo / 64 * 64 {
        rounded if rounded >= floor.max(1) => rounded,
        _ => lo,
    }
}

/// The bytes of every buffer an evaluation pass at `batch` has of its own: the input batch,
/// each layer's output and the scratch its forward uses.
fn eval_buffers(net: &Network, batch: usize) -> Vec<u64> {
    let mut floats = vec![batch * net.input.features()];
    for node in &net.layers {
        floats.push(batch * node.output.features());
        floats.extend(
            node.layer
                .scratch(node, batch, false)
                .iter()
                .map(|s| s.floats),
        );
    }
    floats.into_iter().map(|f| f as u64 * 4).collect()
}

/// `123.4 MiB`.
pub fn size(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else if mib < 1.0 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Free host memory (Linux's MemAvailable); unknown elsewhere.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
