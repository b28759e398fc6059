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
    let batch = cfg.batch_size as u64;
    for node in &net.layers {
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
