//! Launcher of `optimizer.wgsl`: one update of every parameter, over the flat buffer that
//! holds them all. Which rule runs and with which hyperparameters is the optimizer's own
//! business (`src/optim/`); this launcher only binds.

use super::family::{assemble, read, read_write, uniform, uniform_struct, FamilyDecl, SourceParts};
use super::{Bind, Kernel, Kernels, Launch, ModuleKey, View};
use crate::gpu::GpuContext;

uniform_struct! {
    /// `Hyper` of `optimizer.wgsl`: every rule's hyperparameters under Keras's names; each
    /// entry point reads its own.
    pub struct OptimizerParams {
        pub momentum: f32,
        pub beta_1: f32,
        pub beta_2: f32,
        pub rho: f32,
        pub epsilon: f32,
        /// AdamW's decoupled weight decay.
        pub weight_decay: f32,
        /// Parameters: a multiple of 4 (the kernel works in vec4).
        pub n: u32,
        /// Invocations per grid row (the launcher sets it).
        pub grid_width: u32,
    }
}

/// `Rate` of `optimizer.wgsl`: one step's factors, a row of the per-epoch rate table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepRate {
    /// The schedule's learning rate at this step.
    pub learning_rate: f32,
    /// What the update multiplies by: Adam's bias-corrected step size, else the learning rate.
    pub step_size: f32,
}

pub static OPTIMIZER: FamilyDecl = FamilyDecl {
    name: "optimizer",
    bindings: &[
        uniform("hp", &OptimizerParams::LAYOUT),
        read_write("w"),
        read("g"),
        read_write("state"),
        read("cursor"),
        read("rates"),
    ],
};

pub(crate) const OPTIMIZER_WGSL: &str = include_str!("../../../shaders/optimizer.wgsl");

/// The rules' entry points in `optimizer.wgsl`, in the order of their `RULE` codes: each has
/// a function `<rule>_update`, which [`update_wgsl`]'s switch calls.
pub const RULES: [&str; 5] = ["sgd", "sgd_momentum", "adam", "adamw", "rmsprop"];

/// `update(i)`: the rule the override `RULE` codes, for a module that runs it beside other
/// work (`step_end.wgsl`), generated from [`RULES`].
pub(crate) fn update_wgsl() -> String {
    let cases: String = RULES
        .iter()
        .enumerate()
        .map(|(code, rule)| {
            format!("        case {code}u: {{\n            {rule}_update(i);\n        }}\n")
        })
        .collect();
    format!(
        "override RULE: u32 = 0u;\n\nfn update(i: u32) {{\n    switch RULE {{\n{cases}        default: {{}}\n    }}\n}}\n"
    )
}

/// The `RULE` code of the rule whose entry point is `entry`.
pub(crate) fn rule_code(entry: &str) -> f64 {
    RULES
        .iter()
        .position(|r| *r == entry)
        .unwrap_or_else(|| panic!("optimizer.wgsl has no rule '{entry}' in RULES")) as f64
}

pub(crate) fn module() -> SourceParts {
    (
        "optimizer".into(),
        vec!["optimizer.wgsl"],
        assemble("", &[OPTIMIZER_WGSL]),
    )
}

/// One optimizer step over the flat parameter buffer.
#[derive(Clone, Copy, Debug)]
pub struct OptimizerArgs<'a> {
    /// The rule's entry point in `optimizer.wgsl`.
    pub entry: &'static str,
    pub params: OptimizerParams,
    /// Floating-point operations and 4-byte words moved per parameter, for profiles.
    pub work: (u64, u64),
    pub weights: View<'a>,
    pub grads: View<'a>,
    /// `[tensors, n]`: the rule's state tensors one after the other (velocity; m then v;
    /// ...), where it has them.
    pub state: Option<View<'a>>,
    pub cursor: View<'a>,
    /// `[steps] StepRate`: row `cursor.step - 1` is this step's.
    pub rates: View<'a>,
}

impl Kernels {
    pub fn optimizer(&self, ctx: &GpuContext, a: &OptimizerArgs) -> Launch {
        let n = a.params.n as u64;
        assert!(
            n.is_multiple_of(4),
            "the flat parameter buffer holds a multiple of 4 floats, not {n}"
        );
        let (workgroups, width) = self.grid_1d((n / 4) as usize, 256);
        let params = ctx.uniform(
            "optimizer hyperparameters",
            &OptimizerParams {
                grid_width: width,
                ..a.params
            },
        );
        let kernel = Kernel {
            module: ModuleKey::Optimizer,
            entry: a.entry,
            constants: &[],
        };
        let binds = [
            Bind::Uniform(&params),
            a.weights.into(),
            a.grads.into(),
            a.state.into(),
            a.cursor.into(),
            a.rates.into(),
        ];
        let (flops, words) = a.work;
        self.launch(kernel, "optimizer", workgroups, &binds)
            .with_work(n * flops, 4 * n * words)
    }
}
