//! Launchers of `batchnorm.wgsl`.

use super::{EpilogueAct, Kernels, Launch, View};
use crate::gpu::GpuContext;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnEntry {
    /// Batch mean and inverse deviation into `saved`, moving statistics updated.
    Stats,
    /// `y` from the batch statistics (training).
    ApplyTrain,
    /// `y` from the moving statistics (evaluation).
    ApplyEval,
    /// `dgamma`, `dbeta`.
    GradSums,
    /// `dx`.
    Backward,
}

/// Buffers of one batch-normalisation layer; `dst` is `y` or `dx` by entry. Views an entry
/// does not use may be the same placeholder.
#[derive(Clone, Copy, Debug)]
pub struct BnViews<'a> {
    pub x: View<'a>,
    pub labels: View<'a>,
    pub saved: View<'a>,
    pub moving_mean: View<'a>,
    pub moving_var: View<'a>,
    pub gamma: View<'a>,
    pub beta: View<'a>,
    pub dy: View<'a>,
    pub dgamma: View<'a>,
    pub dbeta: View<'a>,
    pub dst: View<'a>,
}

/// Shape and constants of one batch-normalisation layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BnShape {
    /// batch * spatial.
    pub rows: usize,
    pub channels: usize,
    /// Positions per sample: h*w after a convolution, 1 after a dense layer.
    pub spatial: usize,
    pub momentum: f32,
    pub epsilon: f32,
}

impl Kernels {
    pub fn batchnorm(
        &self,
        ctx: &GpuContext,
        entry: BnEntry,
        s: BnShape,
        dact: EpilogueAct,
        v: BnViews,
    ) -> Launch {
        // Per-channel reductions: a workgroup tree on GPUs, a loop per channel on CPU adapters
        // (see `batchnorm.wgsl`).
        let serial = self.serial_reductions(s.rows);
        let (name, per_channel) = match (entry, serial) {
            (BnEntry::Stats, false) => ("stats", true),
            (BnEntry::Stats, true) => ("stats_serial", false),
            (BnEntry::GradSums, false) => ("grad_sums", true),
            (BnEntry::GradSums, true) => ("grad_sums_serial", false),
            (BnEntry::ApplyTrain, _) => ("apply_train", false),
            (BnEntry::ApplyEval, _) => ("apply_eval", false),
            (BnEntry::Backward, _) => ("backward", false),
        };
        let invocations = match entry {
            BnEntry::Stats | BnEntry::GradSums => (s.channels, 64),
            _ => (s.rows * s.channels, 256),
        };
        let resources = [
            v.x.resource(),
            v.labels.resource(),
            v.saved.resource(),
            v.moving_mean.resource(),
            v.moving_var.resource(),
            v.gamma.resource(),
            v.beta.resource(),
            v.dy.resource(),
            v.dgamma.resource(),
            v.dbeta.resource(),
            v.dst.resource(),
        ];
        let params = |w: u32| {
            vec![
                s.rows as u32,
                s.channels as u32,
                s.spatial as u32,
                w,
                s.momentum.to_bits(),
                s.epsilon.to_bits(),
            ]
        };
        let mut launch = self.launch_1d(
            ctx,
            &self.batchnorm,
            "batchnorm",
            name,
            dact,
            invocations,
            params,
            &resources,
        );
        let elems = (s.rows * s.channels) as u64;
        let (flops, passes) = match entry {
            BnEntry::Stats => (3 * elems, 2),
            BnEntry::ApplyTrain | BnEntry::ApplyEval => (4 * elems, 2),
            BnEntry::GradSums => (4 * elems, 2),
            BnEntry::Backward => (8 * elems, 3),
        };
        launch = launch.with_work(flops, 4 * passes * elems);
        if per_channel {
            // One workgroup per channel; the grid width in the uniform is then unused.
            launch.workgroups = [s.channels as u32, 1, 1];
        }
        launch
    }
}
