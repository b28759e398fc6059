//! Launchers of `batchnorm.wgsl`.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{ActCode, Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::floor::Activation;
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Params` of `batchnorm.wgsl`.
    pub struct BnParams {
        pub rows: u32,
        pub channels: u32,
        pub spatial: u32,
        /// Invocations per grid row.
        pub grid_width: u32,
        pub momentum: f32,
        pub epsilon: f32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

pub static BATCHNORM: FamilyDecl = FamilyDecl {
    name: "batchnorm",
    bindings: &[
        uniform("p", &BnParams::LAYOUT),
        read("x"),
        read("labels"),
        read_write("saved"),
        read_write("moving_mean"),
        read_write("moving_var"),
        read("gamma"),
        read("beta"),
        read("dy"),
        read_write("dgamma"),
        read_write("dbeta"),
        read_write("dst"),
    ],
};

pub(crate) fn module() -> SourceParts {
    let file = include_str!("../../../shaders/batchnorm.wgsl");
    (
        "batchnorm".into(),
        vec!["batchnorm.wgsl"],
        assemble("", &[file]),
    )
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

/// One of the layer's launches, with what it binds (layouts in `batchnorm.wgsl`).
#[derive(Clone, Copy, Debug)]
pub enum BnLaunch<'a> {
    /// Batch mean and inverse deviation into `saved`, moving statistics updated.
    Stats {
        x: View<'a>,
        labels: View<'a>,
        saved: View<'a>,
        moving_mean: View<'a>,
        moving_var: View<'a>,
    },
    /// `y` from the batch statistics (training).
    ApplyTrain {
        x: View<'a>,
        saved: View<'a>,
        gamma: View<'a>,
        beta: View<'a>,
        y: View<'a>,
    },
    /// `y` from the moving statistics (evaluation).
    ApplyEval {
        x: View<'a>,
        moving_mean: View<'a>,
        moving_var: View<'a>,
        gamma: View<'a>,
        beta: View<'a>,
        y: View<'a>,
    },
    /// `dgamma` and `dbeta`.
    GradSums {
        x: View<'a>,
        labels: View<'a>,
        saved: View<'a>,
        dy: View<'a>,
        dgamma: View<'a>,
        dbeta: View<'a>,
    },
    /// `dx`, times the derivative of `dact`, the activation whose output x is.
    Backward {
        x: View<'a>,
        labels: View<'a>,
        saved: View<'a>,
        gamma: View<'a>,
        dy: View<'a>,
        dgamma: View<'a>,
        dbeta: View<'a>,
        dact: Activation,
        dx: View<'a>,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct BatchNormArgs<'a> {
    pub shape: BnShape,
    pub launch: BnLaunch<'a>,
}

/// The family's storage bindings by name, as [`BATCHNORM`] declares them; a launch binds
/// those it reads or writes and leaves the rest unbound.
#[derive(Default)]
struct BnBinds<'a> {
    x: Option<View<'a>>,
    labels: Option<View<'a>>,
    saved: Option<View<'a>>,
    moving_mean: Option<View<'a>>,
    moving_var: Option<View<'a>>,
    gamma: Option<View<'a>>,
    beta: Option<View<'a>>,
    dy: Option<View<'a>>,
    dgamma: Option<View<'a>>,
    dbeta: Option<View<'a>>,
    dst: Option<View<'a>>,
}

impl<'a> BnBinds<'a> {
    /// In the declaration's order.
    fn in_order(self) -> [Bind<'a>; 11] {
        [
            self.x,
            self.labels,
            self.saved,
            self.moving_mean,
            self.moving_var,
            self.gamma,
            self.beta,
            self.dy,
            self.dgamma,
            self.dbeta,
            self.dst,
        ]
        .map(Bind::from)
    }
}

impl<'a> BnLaunch<'a> {
    /// The family's storage bindings, in order, and the derivative fused in.
    fn binds(&self) -> ([Bind<'a>; 11], Activation) {
        let b = match *self {
            BnLaunch::Stats {
                x,
                labels,
                saved,
                moving_mean,
                moving_var,
            } => BnBinds {
                x: Some(x),
                labels: Some(labels),
                saved: Some(saved),
                moving_mean: Some(moving_mean),
                moving_var: Some(moving_var),
                ..Default::default()
            },
            BnLaunch::ApplyTrain {
                x,
                saved,
                gamma,
                beta,
                y,
            } => BnBinds {
                x: Some(x),
                saved: Some(saved),
                gamma: Some(gamma),
                beta: Some(beta),
                dst: Some(y),
                ..Default::default()
            },
            BnLaunch::ApplyEval {
                x,
                moving_mean,
                moving_var,
                gamma,
                beta,
                y,
            } => BnBinds {
                x: Some(x),
                moving_mean: Some(moving_mean),
                moving_var: Some(moving_var),
                gamma: Some(gamma),
                beta: Some(beta),
                dst: Some(y),
                ..Default::default()
            },
            BnLaunch::GradSums {
                x,
                labels,
                saved,
                dy,
                dgamma,
                dbeta,
            } => BnBinds {
                x: Some(x),
                labels: Some(labels),
                saved: Some(saved),
                dy: Some(dy),
                dgamma: Some(dgamma),
                dbeta: Some(dbeta),
                ..Default::default()
            },
            BnLaunch::Backward {
                x,
                labels,
                saved,
                gamma,
                dy,
                dgamma,
                dbeta,
                dx,
                ..
            } => BnBinds {
                x: Some(x),
                labels: Some(labels),
                saved: Some(saved),
                gamma: Some(gamma),
                dy: Some(dy),
                dgamma: Some(dgamma),
                dbeta: Some(dbeta),
                dst: Some(dx),
                ..Default::default()
            },
        };
        let dact = match *self {
            BnLaunch::Backward { dact, .. } => dact,
            _ => Activation::Linear,
        };
        (b.in_order(), dact)
    }
}

impl Kernels {
    pub fn batchnorm(&self, ctx: &GpuContext, a: &BatchNormArgs) -> Launch {
        let s = a.shape;
        // Per-channel reductions: a workgroup tree on GPUs, a loop per channel on CPU adapters
        // (see `batchnorm.wgsl`), as the policy says.
        let serial = self.policy.serial_reductions(self, s.rows);
        let (entry, per_channel) = match (&a.launch, serial) {
            (BnLaunch::Stats { .. }, false) => ("stats", true),
            (BnLaunch::Stats { .. }, true) => ("stats_serial", false),
            (BnLaunch::GradSums { .. }, false) => ("grad_sums", true),
            (BnLaunch::GradSums { .. }, true) => ("grad_sums_serial", false),
            (BnLaunch::ApplyTrain { .. }, _) => ("apply_train", false),
            (BnLaunch::ApplyEval { .. }, _) => ("apply_eval", false),
            (BnLaunch::Backward { .. }, _) => ("backward", false),
        };
        let reduction = matches!(a.launch, BnLaunch::Stats { .. } | BnLaunch::GradSums { .. });
        let (invocations, wg) = if reduction {
            (s.channels, 64)
        } else {
            (s.rows * s.channels, 256)
        };
        let (mut workgroups, width) = self.grid_1d(invocations, wg);
        if per_channel {
            // One workgroup per channel; the grid width in the uniform is then unused.
            workgroups = [s.channels as u32, 1, 1];
        }
        let params = ctx.uniform(
            "batchnorm params",
            &BnParams {
                rows: s.rows as u32,
                channels: s.channels as u32,
                spatial: s.spatial as u32,
                grid_width: width,
                momentum: s.momentum,
                epsilon: s.epsilon,
                ..Default::default()
            },
        );
        let (storage, dact) = a.launch.binds();
        let constants = [("DACT", dact.code())];
        let kernel = Kernel {
            module: ModuleKey::BatchNorm,
            entry,
            constants: if dact == Activation::Linear {
                &[]
            } else {
                &constants
            },
        };
        let mut binds = vec![Bind::Uniform(&params)];
        binds.extend(storage);
        let elems = (s.rows * s.channels) as u64;
        let (flops, passes) = match a.launch {
            BnLaunch::Stats { .. } => (3 * elems, 2),
            BnLaunch::ApplyTrain { .. } | BnLaunch::ApplyEval { .. } => (4 * elems, 2),
            BnLaunch::GradSums { .. } => (4 * elems, 2),
            BnLaunch::Backward { .. } => (8 * elems, 3),
        };
        self.launch(kernel, "batchnorm", workgroups, &binds)
            .with_work(flops, 4 * passes * elems)
    }
}
