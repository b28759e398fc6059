//! What a plan will allocate, checked before anything is: each GPU buffer against the
//! adapter's buffer and storage-binding limits, and the host memory the weights need against
//! what the machine has free. A model or batch too big is an error naming the buffer, its
//! size, the limit and what to change, never a panic inside wgpu or an abort on allocation.

use super::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::{Network, ParamLayout};

/// One buffer of the plan: what it is, its bytes, and what would make it smaller.
struct Need {
    what: String,
    bytes: u64,
    remedy: &'static str,
}

/// Checks every large buffer of `net` at `cfg`'s batch on `data`, on `ctx`'s adapter.
pub fn check(ctx: &GpuContext, net: &Network, cfg: &TrainConfig, data: &Dataset) -> Result<()> {
    if cfg.batch_size > data.train.len() {
        return Err(Error::flag(
            "--batch-size",
            format!(
                "{} is more than the {} training samples; use at most {}",
                cfg.batch_size,
                data.train.len(),
                data.train.len()
            ),
        ));
    }
    crate::gpu::kernels::variants::check_workgroups(&ctx.limits).map_err(|e| {
        Error::Gpu(format!(
            "the adapter '{}' cannot run shaderfit's kernels: {e} (they are written for WebGPU's default limits)",
            ctx.info.name
        ))
    })?;
    let align = ctx.binding_align_floats();
    let params = ParamLayout::trainable(net, align).total as u64 * 4;
    let tensors = cfg.optimizer.state().len() as u64;
    let mut needs = vec![
        Need {
            what: format!("the parameters ({} floats)", params / 4),
            bytes: params,
            remedy: "use smaller layers",
        },
        Need {
            what: format!("the optimizer's {tensors} state tensors"),
            bytes: params * tensors,
            remedy: "use smaller layers or an optimizer with less state",
        },
    ];
    let mut batches = vec![cfg.batch_size as u64];
    batches.extend(cfg.eval_batch_size.map(|b| b as u64));
    for (node, batch) in net
        .layers
        .iter()
        .flat_map(|n| batches.iter().map(move |b| (n, b)))
    {
        needs.push(Need {
            what: format!("the output of layer {} at batch {batch}", node.name),
            bytes: batch * node.output.features() as u64 * 4,
            remedy: "use a smaller --batch-size or a smaller layer",
        });
    }
    needs.push(Need {
        what: "the training images".into(),
        bytes: data.train.images.len() as u64,
        remedy: "use a smaller dataset",
    });
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    if let Some(n) = needs.iter().find(|n| n.bytes > limit) {
        return Err(Error::Gpu(format!(
            "{} would need a {} buffer; the adapter '{}' allows {} per buffer: {}",
            n.what,
            size(n.bytes),
            ctx.info.name,
            size(limit),
            n.remedy
        )));
    }
    // Host: the initial weights, their packed copy and the checkpoint's copies.
    let host = params * 4;
    if let Some(free) = available_memory() {
        if host > free {
            return Err(Error::Gpu(format!(
                "the parameters ({}) need about {} of host memory to set up; {} is free: use smaller layers",
                size(params),
                size(host),
                size(free)
            )));
        }
    }
    Ok(())
}

/// The largest evaluation batch chosen: validation at 1024 runs a tenth of the steps of
/// batch 128, each as wide as a GPU wants.
pub const EVAL_BATCH_MAX: usize = 1024;

/// What the evaluation passes' own buffers (outputs and forward scratch) may take together
/// at a batch chosen for them, beside the training step's.
pub const EVAL_MEMORY: u64 = 256 << 20;

/// The evaluation passes' batch: `cfg.eval_batch_size` when given; else the largest up to
/// [`EVAL_BATCH_MAX`] and `longest` (the longest split evaluated) whose every buffer fits one
/// storage binding and all of them [`EVAL_MEMORY`], rounded down to a multiple of 64; never below the training batch (whose
/// buffers [`check`] has passed) unless `longest` is shorter.
pub fn eval_batch(ctx: &GpuContext, net: &Network, cfg: &TrainConfig, longest: usize) -> usize {
    if let Some(b) = cfg.eval_batch_size {
        return b;
    }
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let fits = |batch: usize| {
        let bytes = eval_buffers(net, batch);
        bytes.iter().all(|&b| b <= limit) && bytes.iter().sum::<u64>() <= EVAL_MEMORY
    };
    let cap = EVAL_BATCH_MAX.min(longest).max(1);
    let floor = cfg.batch_size.min(cap);
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
fn size(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// Free host memory (Linux's MemAvailable); unknown elsewhere.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
