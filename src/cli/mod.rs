//! The command line: parses flags, calls the library, prints. The only place that prints or
//! decides exit codes.

mod bench;
mod compare;
mod data;
mod data_flags;
mod devices;
mod evaluate;
mod export;
pub mod kernels;
mod model;
mod predict;
mod recipes;
mod report_flags;
mod sweep;
mod tables;
pub(crate) mod train;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "shaderfit",
    version,
    about = "Train MNIST-family classifiers on any GPU through wgpu, with hand-written WGSL kernels",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Compile every kernel with naga's runtime bounds checks, as wgpu does by default
    /// (slower; for a kernel suspected of reading or writing out of bounds). Without it the
    /// kernels run as trusted modules, held to their buffers by the canary test. Also
    /// SHADERFIT_CHECKED_SHADERS=1.
    #[arg(long, global = true)]
    pub checked_shaders: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model and report loss and accuracy per epoch and on the test set.
    Train(Box<train::TrainArgs>),
    /// Score a checkpoint on the test set: loss, accuracy, the confusion matrix and per-class
    /// precision, recall and F1. The model comes from the checkpoint.
    Evaluate(evaluate::EvaluateArgs),
    /// Write a checkpoint's inference graph as an ONNX model file (input pixels / 255,
    /// [N, 28, 28, 1]; output class probabilities), for ONNX Runtime and other tools.
    Export(export::ExportArgs),
    /// Classify images (PNG, JPEG, or IDX files with --indices) with a checkpoint: each one's
    /// class, its probability and a bar of every class's.
    Predict(predict::PredictArgs),
    /// Train runs that differ in some settings (--models mlp_bn,lenet, --optimizers, --lrs,
    /// --grid KEY=V1,V2, ...) or read finished runs' histories, and compare them in one table
    /// best first, with a report; `compare merge` joins the shards of a comparison.
    Compare(Box<compare::CompareArgs>),
    /// Train one model with every optimizer and learning rate given and compare them in one
    /// table, best first (a comparison over those two); `sweep merge` joins its shards.
    Sweep(Box<sweep::SweepArgs>),
    /// List the recipes `train --recipe NAME` takes: each one's model, optimizer, schedule,
    /// batch size and epochs.
    Recipes,
    /// List every GPU adapter wgpu can see, with the limits that matter for training.
    Devices,
    /// Print a model's layers, output shapes and parameter counts, as Keras's summary().
    Summary(model::SummaryArgs),
    /// Time kernels on this adapter: square GEMMs and every launch of presets' training
    /// steps, with GFLOP/s, GB/s and share of peak.
    Bench(bench::BenchArgs),
    /// Datasets: `data show` prints per-class counts and draws a grid of samples.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Model specs: `model show cnn` prints a preset as JSON for --model.
    #[command(subcommand)]
    Model(model::ModelCommand),
}

/// A closed stdout (`shaderfit devices | head -1`) ends the process quietly, as it does any
/// Unix filter, instead of a panic in `println!`: SIGPIPE gets its default action back (Rust
/// ignores it at start-up).
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    {
        extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        const SIGPIPE: i32 = 13; // the same on Linux, macOS and the BSDs
        const SIG_DFL: usize = 0;
        // SAFETY: restoring a signal's default disposition, before any thread starts.
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}

/// Without `XDG_RUNTIME_DIR` the Vulkan and EGL loaders print two lines starting `error:`,
/// which read as shaderfit's: give them a private directory when it is unset or missing.
fn private_runtime_dir() {
    let set =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if set || !cfg!(unix) {
        return;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
    let dir = std::env::temp_dir().join(format!("shaderfit-runtime-{user}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    }
    if dir.is_dir() {
        // Before any thread starts (edition 2021: set_var is safe to call here).
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

pub use crate::settings::finite_f32;

/// Every argument, of any command, that names something the command reads (by its clap id):
/// each is noted as an input before the command runs ([`crate::input::note`]), so that no
/// output of the command replaces it. Paths that other arguments name are outputs, declared
/// in [`crate::output::OUTPUT_FLAGS`]; `tests/outputs.rs` holds every path argument of every
/// command to one list or the other.
pub const INPUT_ARGS: [&str; 10] = [
    "checkpoint",
    "inputs",
    "finished",
    "files",
    "runs",
    "resume",
    "load",
    "data",
    "model",
    "class_names",
];

/// Notes the inputs `matches` names, in its subcommands too.
fn note_inputs(matches: &clap::ArgMatches) {
    for id in INPUT_ARGS {
        let Ok(Some(values)) = matches.try_get_raw(id) else {
            continue;
        };
        for value in values {
            crate::input::note(std::path::Path::new(value));
        }
    }
    if let Some((_, sub)) = matches.subcommand() {
        note_inputs(sub);
    }
}

/// How the commands that train or time name the adapter: `llvmpipe (Vulkan)`, with
/// `, checked shaders` under `--checked-shaders`.
pub(crate) fn adapter_label(ctx: &crate::gpu::GpuContext) -> String {
    let checked = match ctx.shader_checks {
        crate::gpu::ShaderChecks::Checked => ", checked shaders",
        crate::gpu::ShaderChecks::Trusted => "",
    };
    format!("{} ({:?}){checked}", ctx.info.name, ctx.info.backend)
}

/// Runs the command line and turns errors into one line on stderr and exit code 1.
pub fn main() -> ExitCode {
    quiet_on_closed_pipe();
    private_runtime_dir();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if cli.checked_shaders {
        crate::gpu::set_default_shader_checks(crate::gpu::ShaderChecks::Checked);
    }
    note_inputs(&matches);
    // Whether a flag of the command was typed (not a default): `--resume` refuses to change
    // the flags that define a run, and a flag that does nothing where it was given is refused.
    let given = |id: &str| {
        let Some((_, sub)) = matches.subcommand() else {
            return false;
        };
        let known = sub.ids().any(|i| i.as_str() == id);
        known
            && sub
                .value_source(id)
                .is_some_and(|s| s == clap::parser::ValueSource::CommandLine)
    };
    let result = match cli.command {
        Command::Train(args) => train::run(&args, &given),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Predict(args) => predict::run(&args, &given),
        Command::Compare(args) => compare::run(&args, &given),
        Command::Sweep(args) => sweep::run(&args, &given),
        Command::Devices => devices::run(),
        Command::Recipes => recipes::run(),
        Command::Summary(args) => model::summary_command(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Model(cmd) => model::model_command(&cmd),
        Command::Data(cmd) => data::run(&cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                // docs/errors.md: 3 when training diverged, 1 for every other error.
                crate::error::Error::Diverged(_) => ExitCode::from(3),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
