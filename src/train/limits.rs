//! What a training run will allocate, checked before anything is: each GPU buffer against the
//! adapter's buffer and storage-binding limits (the evaluation's own, [`crate::eval::limits`],
//! plus the training step's: the optimizer's state, every layer's output at the training
//! batch, the training images in one buffer or the ring they are read through where they are
//! split or streamed, [`super::samples`]), and the host memory the weights need against what the machine
//! has free. A model or batch too big is an error naming the buffer, its size, the limit and
//! what to change, never a panic inside wgpu or an abort on allocation.

use super::config::TrainConfig;
use crate::data::ring::Ring;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::limits::{
    available_memory, check_needs, images_need, param_bytes, params_need, size, Need,
};
use crate::eval::samples::Residency;
use crate::gpu::GpuContext;
use crate::model::Network;

/// Checks every large buffer of `net` at `cfg`'s batch on `data`, its training split placed
/// as `residency` says, on `ctx`'s adapter.
pub fn check(
    ctx: &GpuContext,
    net: &Network,
    (cfg, residency): (&TrainConfig, &Residency),
    data: &Dataset,
) -> Result<()> {
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
    let params = param_bytes(ctx, net);
    let mut needs = needs(net, cfg, params);
    needs.push(match residency {
        Residency::Whole => images_need("training", data.train.images.len() as u64),
        // Split or streamed, the set is read through a ring of the steps' samples.
        _ => {
            let sample = data.train.images.len() / data.train.len().max(1);
            let ring = Ring::new(sample, cfg.batch_size, cfg.steps_per_submit, 256);
            Need {
                what: "the ring of the training steps' samples".into(),
                bytes: ring.bytes() as u64,
                remedy: "use a smaller --batch-size or --steps-per-submit",
            }
        }
    });
    check_needs(ctx, &needs)?;
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

/// The training run's large buffers: the parameters (`params` bytes) and the optimizer's
/// state, every layer's output at the training batch (and at the evaluation batch asked
/// for).
fn needs(net: &Network, cfg: &TrainConfig, params: u64) -> Vec<Need> {
    let tensors = cfg.optimizer.state().len() as u64;
    let mut needs = vec![
        params_need(params),
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
    needs
}
