//! `shaderfit sweep`: the comparison of optimizers and learning rates for one model (the
//! notebooks' comparison of optimizers), run by `compare`'s code: one table best first, JSON,
//! a report, `--shard` and `sweep merge` (which is `compare merge`).

use super::compare::{self, AxisFlags, CompareOutputs, Job, MergeArgs, Placement};
use crate::error::Result;
use crate::settings::RunSettings;
use crate::train::compare::{grid, Axis};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    #[command(flatten)]
    pub run: SweepRun,
}

#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Join the JSON files of a sweep's shards into one table (and --json, --report).
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
#[command(mut_arg("model", |a| a.default_value("linear")))]
pub struct SweepRun {
    /// The settings every combination shares (all of `train`'s: model, epochs, batch size,
    /// schedule, augmentation, ...); the axes below set the optimizer and the learning rate.
    #[command(flatten)]
    pub run: RunSettings,
    /// Optimizers to compare, e.g. sgd,adam,rmsprop (default those three, or --optimizer's).
    #[arg(long, value_delimiter = ',', conflicts_with = "optimizer")]
    pub optimizers: Option<Vec<String>>,
    /// Learning rates to try with each optimizer (default 0.001,0.01,0.1, or --lr's).
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        conflicts_with = "lr"
    )]
    pub lrs: Option<Vec<String>>,
    #[command(flatten)]
    pub place: Placement,
    #[command(flatten)]
    pub out: CompareOutputs,
}

/// Runs `sweep`; `given(id)` says whether a flag was typed.
pub fn run(args: &SweepArgs, given: &dyn Fn(&str) -> bool) -> Result<()> {
    match &args.command {
        Some(SweepCommand::Merge(m)) => compare::run_merge(m),
        None => {
            let axes = axes(&args.run, given)?;
            let job = Job {
                base: &args.run.run,
                typed: given,
                runs: grid(&axes),
                axes,
                listed: None,
                places: Vec::new(),
            };
            compare::execute(&job, &args.run.place, &args.run.out)
        }
    }
}

/// The sweep's axes, as `compare --optimizers ... --lrs ...` reads them: `--optimizers`
/// (else `--optimizer`, else sgd, adam and rmsprop) and `--lrs` (else `--lr`, else 0.001,
/// 0.01 and 0.1).
fn axes(args: &SweepRun, given: &dyn Fn(&str) -> bool) -> Result<Vec<Axis>> {
    let optimizers = match &args.optimizers {
        Some(list) => list.clone(),
        None if given("optimizer") => vec![args.run.optimizer.clone()],
        None => ["sgd", "adam", "rmsprop"].map(String::from).to_vec(),
    };
    let lrs = match (&args.lrs, args.run.hyper.lr) {
        (Some(list), _) => list.clone(),
        (None, Some(lr)) => vec![lr.to_string()],
        (None, None) => ["0.001", "0.01", "0.1"].map(String::from).to_vec(),
    };
    let flags = AxisFlags {
        given: vec![("optimizers", "optimizer", optimizers), ("lrs", "lr", lrs)],
    };
    compare::axes::of(&flags, &[])
}
