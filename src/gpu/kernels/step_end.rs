//! Launcher of `step_end.wgsl`: the optimizer's update, the batch's loss and accuracy from the
//! rows [`super::dense_xent`] wrote, and the next batch's gather, in one launch at the end of
//! a training step. Its module is `optimizer.wgsl` and `gather.wgsl` as they are, less their
//! binding declarations, which `step_end.wgsl` makes at its own numbers.

use super::family::{
    assemble, read, read_write, uniform, uniform_struct, without_bindings, FamilyDecl, SourceParts,
};
use super::gather::{gather_params, GatherParams, GATHER_WGSL};
use super::loss::BATCH_SUM_WGSL;
use super::optimizer::{rule_code, update_wgsl, OptimizerParams, OPTIMIZER_WGSL};
use super::{
    Bind, DeferredSum, GatherArgs, Kernel, Kernels, Launch, ModuleKey, OptimizerArgs, View,
    MAX_DEFERRED_SUMS,
};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `StepEnd` of `step_end.wgsl`.
    pub struct StepEndParams {
        /// The optimizer's workgroups, first in the launch.
        pub opt_groups: u32,
        /// Rows of the batch whose [`super::RowStat`]s are summed.
        pub batch: u32,
        /// Deferred split-K sums: at most [`MAX_DEFERRED_SUMS`].
        pub folds: u32,
        pub _pad0: u32,
        pub fold0_c: u32,
        pub fold0_len: u32,
        pub fold0_sums: u32,
        pub fold0_n: u32,
        pub fold0_stride: u32,
        pub fold0_splits: u32,
        pub _pad1: u32,
        pub _pad2: u32,
        pub fold1_c: u32,
        pub fold1_len: u32,
        pub fold1_sums: u32,
        pub fold1_n: u32,
        pub fold1_stride: u32,
        pub fold1_splits: u32,
        pub _pad3: u32,
        pub _pad4: u32,
    }
}

/// `NO_SUMS` of `step_end.wgsl`: a deferred sum without row sums.
const NO_SUMS: u32 = u32::MAX;

/// A deferred sum's fold0_* (or fold1_*) fields, in vec4s: c's start and length, the row
/// sums' start, n / 4, the slices' stride and count.
fn fold_fields(d: &DeferredSum) -> [u32; 6] {
    let rows = d.m + d.sums_offset.is_some() as usize;
    [
        (d.c_offset / 4) as u32,
        (d.m * d.n / 4) as u32,
        d.sums_offset.map_or(NO_SUMS, |o| (o / 4) as u32),
        (d.n / 4) as u32,
        (rows * d.n / 4) as u32,
        d.splits as u32,
    ]
}

impl StepEndParams {
    fn new(opt_groups: usize, batch: usize, sums: &[DeferredSum]) -> StepEndParams {
        assert!(
            sums.len() <= MAX_DEFERRED_SUMS,
            "step_end folds at most {MAX_DEFERRED_SUMS} sums"
        );
        let [c0, l0, s0, n0, t0, k0] = sums.first().map(fold_fields).unwrap_or_default();
        let [c1, l1, s1, n1, t1, k1] = sums.get(1).map(fold_fields).unwrap_or_default();
        StepEndParams {
            opt_groups: opt_groups as u32,
            batch: batch as u32,
            folds: sums.len() as u32,
            fold0_c: c0,
            fold0_len: l0,
            fold0_sums: s0,
            fold0_n: n0,
            fold0_stride: t0,
            fold0_splits: k0,
            fold1_c: c1,
            fold1_len: l1,
            fold1_sums: s1,
            fold1_n: n1,
            fold1_stride: t1,
            fold1_splits: k1,
            ..Default::default()
        }
    }
}

pub static STEP_END: FamilyDecl = FamilyDecl {
    name: "step_end",
    bindings: &[
        uniform("hp", &OptimizerParams::LAYOUT),
        read_write("w"),
        read_write("g"),
        read_write("state"),
        read("cursor"),
        read("rates"),
        uniform("params", &GatherParams::LAYOUT),
        read("images"),
        read("labels"),
        read("order"),
        read_write("x"),
        read_write("y"),
        uniform("step_end", &StepEndParams::LAYOUT),
        read("rows"),
        read_write("metric"),
        read("partials_0"),
        read("partials_1"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/step_end.wgsl");
    let parts = [
        without_bindings(OPTIMIZER_WGSL),
        update_wgsl(),
        without_bindings(GATHER_WGSL),
        BATCH_SUM_WGSL.to_string(),
        file.to_string(),
    ];
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    (
        "step_end".into(),
        vec![
            "optimizer.wgsl",
            "gather.wgsl",
            "batch_sum.wgsl",
            "step_end.wgsl",
        ],
        assemble("", &parts),
    )
}

/// The end of a training step: `optimizer`'s update, `rows` summed into `metric`, and
/// `gather` (its cursor is the optimizer's) of the batch after this one.
#[derive(Clone, Copy, Debug)]
pub struct StepEndArgs<'a> {
    pub optimizer: &'a OptimizerArgs<'a>,
    pub gather: &'a GatherArgs<'a>,
    /// `[batch]` [`super::RowStat`], the batch's rows.
    pub rows: View<'a>,
    /// The training pass's [`super::LossMetric`].
    pub metric: View<'a>,
    /// The weight gradients whose split-K sums the optimizer takes: at most
    /// [`MAX_DEFERRED_SUMS`].
    pub split_sums: &'a [DeferredSum],
}

impl Kernels {
    pub fn step_end(&self, ctx: &GpuContext, a: &StepEndArgs) -> Launch {
        let (opt, gather) = (a.optimizer, a.gather);
        let n = opt.params.n as usize;
        assert!(
            n.is_multiple_of(4),
            "the flat parameter buffer holds a multiple of 4 floats, not {n}"
        );
        let opt_groups = (n / 4).div_ceil(256).max(1);
        let elements = gather.batch * gather.sample_bytes;
        let groups = opt_groups + 1 + elements.div_ceil(256);
        let (workgroups, _) = self.grid_1d(groups * 256, 256);
        let hp = ctx.uniform("optimizer hyperparameters", &opt.params);
        let gp = ctx.uniform("gather params", &gather_params(gather, 0));
        let own = ctx.uniform(
            "step_end params",
            &StepEndParams::new(opt_groups, gather.batch, a.split_sums),
        );
        let partials = |k: usize| a.split_sums.get(k).map(|d| View::whole(&d.partials));
        let constants = [("RULE", rule_code(opt.entry))];
        let kernel = Kernel {
            module: ModuleKey::StepEnd,
            entry: "finish_step",
            constants: &constants,
        };
        let binds = [
            Bind::Uniform(&hp),
            opt.weights.into(),
            opt.grads.into(),
            opt.state.into(),
            opt.cursor.into(),
            opt.rates.into(),
            Bind::Uniform(&gp),
            gather.images.into(),
            gather.labels.into(),
            gather.order.into(),
            gather.x.into(),
            gather.y.into(),
            Bind::Uniform(&own),
            a.rows.into(),
            a.metric.into(),
            partials(0).into(),
            partials(1).into(),
        ];
        let (flops, words) = opt.work;
        let rows = 8 * gather.batch as u64 + 16;
        let slices: u64 = a.split_sums.iter().map(|d| d.partials.size()).sum();
        self.launch(kernel, "optimizer + next batch", workgroups, &binds)
            .with_work(
                n as u64 * flops,
                4 * n as u64 * words + gather.bytes() + rows + slices,
            )
    }
}
