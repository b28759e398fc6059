//! `shaderfit train`: wires the flags into a training run and prints it. The run itself,
//! what happens between epochs included, is the library's (callbacks); this file adds the
//! progress bar and the per-epoch lines, which print.

mod callbacks;
mod progress;
mod recipe;
mod resume;

use callbacks::RunCallbacks;
use progress::{EpochBar, EpochLines};

use std::path::PathBuf;

use clap::Args;

use super::data_flags::DataFlags;
use super::kernels;
use super::report_flags::ReportFlags;
use super::tables::profile_table;
use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::eval::samples::Residency;
use crate::floor::augment::Augment;
use crate::gpu::GpuContext;
use crate::model::summary;
use crate::model::{checkpoint, ModelSpec, Network, ParamLayout};
use crate::output;
use crate::report::ReportInput;
use crate::settings::RunSettings;
use crate::train::setup::{self, Origin, RunSetup};
use crate::train::{check_history_path, test_line, tta_line, Monitor, StepProfile, Trainer};

#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Start from a recipe's settings (model, data, optimizer, schedule, batch size, epochs;
    /// see `shaderfit recipes`); flags given as well override them.
    #[arg(long, value_name = "NAME", conflicts_with = "resume")]
    pub recipe: Option<String>,
    /// What the run trains, on what, and how: every flag that defines a run.
    #[command(flatten)]
    pub run: RunSettings,
    #[command(flatten)]
    pub source: DataFlags,
    /// Adapter whose name contains this (case-insensitive); default $WGPU_ADAPTER_NAME, then
    /// the high-performance adapter. See `shaderfit devices`.
    #[arg(long)]
    pub adapter: Option<String>,
    /// After every epoch, write the weights to this file (safetensors, Keras's tensor names)
    /// and the training state beside it (NAME.state.safetensors), for --resume. Each is
    /// written beside and renamed, so an interrupted run keeps the last finished epoch.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// After every epoch, write a checkpoint DIR/epoch-NNN.safetensors (keeping the last
    /// --keep) and, when --monitor improved, DIR/best.safetensors.
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Epoch checkpoints --checkpoint-dir keeps.
    #[arg(
        long,
        default_value_t = 3,
        value_name = "N",
        requires = "checkpoint_dir"
    )]
    pub keep: usize,
    /// The metric that decides the best checkpoint (loss, accuracy, val_loss, val_accuracy).
    #[arg(long, default_value = "val_loss", value_name = "METRIC")]
    pub monitor: String,
    /// Save only when --monitor improved (Keras's save_best_only): --save rewrites its file
    /// only then, --checkpoint-dir writes best.safetensors only.
    #[arg(long)]
    pub save_best_only: bool,
    /// Continue the run saved in this checkpoint (or the latest in a --checkpoint-dir): its
    /// weights, optimizer state, step count, epoch, flags and history, saving on to the same
    /// place unless told otherwise. --epochs is the run's total; the final weights are those
    /// of a run never interrupted.
    #[arg(long, value_name = "CHECKPOINT", conflicts_with = "load")]
    pub resume: Option<PathBuf>,
    /// Start from the weights of this checkpoint (written by --save) instead of a fresh
    /// initialisation; the optimizer starts afresh. The model must be the checkpoint's.
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Before training, print the time of every kernel of one training step, per layer, and
    /// the share of the step spent outside kernels (measured on a separate copy of the model).
    #[arg(long)]
    pub profile: bool,
    /// Training steps recorded into one GPU submission (also the progress bar's granularity).
    #[arg(long, default_value_t = 16)]
    pub steps_per_submit: usize,
    /// Keep the training set in host memory (an uncompressed IDX file memory-mapped) and
    /// upload each submission's samples while the GPU trains on the ones before, instead of
    /// holding the set on the GPU. Chosen without the flag for a set too large for the GPU's
    /// buffers; the data line says which. Same weights either way.
    #[arg(long)]
    pub stream: bool,
    /// Stop after the first epoch whose validation accuracy (the test set's, without
    /// --validation-split) reaches this, and print the training time it took.
    #[arg(long, allow_negative_numbers = true)]
    pub until_accuracy: Option<f64>,
    /// Write the history as each epoch ends: FILE.json in the shape of Keras's
    /// `history.history` (with `epoch` and the run's settings), or FILE.csv with Keras's
    /// CSVLogger columns.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Stop when this metric (loss, accuracy, val_loss, val_accuracy) has not improved for
    /// --patience epochs, as Keras's EarlyStopping.
    #[arg(long, value_name = "METRIC")]
    pub early_stopping: Option<String>,
    /// Epochs without improvement before early stopping (Keras's default 0).
    #[arg(long, requires = "early_stopping")]
    pub patience: Option<usize>,
    /// The least change that counts as an improvement for early stopping (default 0).
    #[arg(long, requires = "early_stopping", allow_negative_numbers = true)]
    pub min_delta: Option<f64>,
    /// At the end, go back to the weights of the epoch with the best monitored metric.
    #[arg(long, requires = "early_stopping")]
    pub restore_best_weights: bool,
    #[command(flatten)]
    pub report: ReportFlags,
    /// As Keras's: 0 prints only the test line (and why a run stopped early), 1 adds the
    /// setup, a live progress bar (on a terminal) and a line per epoch, 2 the same without
    /// the bar.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub verbose: u8,
}

/// The run's settings and the other flags, checked before any data is read; `given(id)`
/// says whether a flag was typed.
fn check_flags(args: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<()> {
    args.run.check()?;
    check_save_flags(args, given)?;
    if args.steps_per_submit == 0 {
        return Err(Error::flag("--steps-per-submit", "0; expected at least 1"));
    }
    if let Some(target) = args.until_accuracy {
        if !(target > 0.0 && target <= 1.0) {
            return Err(Error::flag(
                "--until-accuracy",
                format!("{target} is not an accuracy; expected a number in (0, 1]"),
            ));
        }
    }
    check_callback_flags(args)
}

/// The checkpoint flags that only mean something with a checkpoint to write.
fn check_save_flags(args: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<()> {
    let saves = args.save.is_some() || args.checkpoint_dir.is_some();
    if args.save_best_only && !saves {
        return Err(Error::flag(
            "--save-best-only",
            "given without --save or --checkpoint-dir; it says when those write",
        ));
    }
    if given("monitor") && !saves {
        return Err(Error::flag(
            "--monitor",
            "given without --save or --checkpoint-dir; it decides which checkpoint is the best (early stopping and ReduceLROnPlateau take their metric as their own value)",
        ));
    }
    if (saves || args.history.is_some()) && args.run.epochs == 0 {
        let flag = match (saves, args.save.is_some()) {
            (true, true) => "--save",
            (true, false) => "--checkpoint-dir",
            _ => "--history",
        };
        return Err(Error::flag(
            flag,
            "given with --epochs 0, which trains nothing to save or record; expected --epochs 1 or more",
        ));
    }
    if args.keep == 0 {
        return Err(Error::flag(
            "--keep",
            "0 would delete every epoch checkpoint as it is written; expected at least 1",
        ));
    }
    Ok(())
}

/// The early-stopping and history flags, checked before any data is read.
fn check_callback_flags(args: &TrainArgs) -> Result<()> {
    let metrics = args.run.metric_list()?;
    Monitor::parse("--monitor", &args.monitor, &metrics)?;
    if let Some(metric) = &args.early_stopping {
        Monitor::parse("--early-stopping", metric, &metrics)?;
    }
    if let Some(d) = args.min_delta.filter(|d| !d.is_finite()) {
        return Err(Error::flag(
            "--min-delta",
            format!("{d} is not a number; expected a change such as 0.001"),
        ));
    }
    if let Some(path) = &args.history {
        check_history_path(path)?;
        output::check_writable("--history", path)?;
    }
    if let Some(path) = &args.save {
        output::check_writable("--save", path)?;
    }
    if let Some(dir) = &args.checkpoint_dir {
        output::prepare_dir("--checkpoint-dir", dir)?;
    }
    if let Some(dir) = &args.report.dir {
        output::check_replaceable_dir("--report", dir)?;
    }
    Ok(())
}

/// Runs `train`; `given(id)` says whether a flag was on the command line (for --resume).
pub fn run(args: &TrainArgs, given: &dyn Fn(&str) -> bool) -> Result<()> {
    let (args, resumed) = resolve(args, given)?;
    let args = &args;
    let run = &args.run;
    let _locks = lock_outputs(args)?;
    let classes = run.classes.map(usize::from);
    let dataset = args.source.open(run.dataset, classes)?;
    args.report.check(&dataset)?;
    let origin = Origin {
        spec: resumed.as_ref().map(|r| &r.spec),
        recipe: args.recipe.as_deref(),
    };
    let mut setup = setup::setup(run, &dataset, origin)?;
    setup.cfg.steps_per_submit = args.steps_per_submit;
    setup.cfg.stream = args.stream;
    let record = run_record(args, resumed.as_ref(), &dataset)?;
    let loaded = match (&args.load, &resumed) {
        (Some(path), _) => Some(load_weights(path, (&setup.spec, &setup.net), run.dataset)?),
        (None, Some(r)) => Some(r.weights.clone()),
        (None, None) => None,
    };
    if args.report.dir.is_some() {
        setup.cfg.accumulators = ReportFlags::metrics(&dataset);
    }
    let ctx = GpuContext::new(args.adapter.as_deref())?;
    setup.cfg.kernels = kernels::policy(&ctx.info);
    if args.verbose > 0 {
        print_setup(args, (&dataset, &setup), &ctx);
    }
    let start = Start {
        loaded: loaded.as_ref(),
        resumed: resumed.as_ref(),
    };
    let mut trainer = start_trainer(args, &ctx, (&setup, &dataset), start)?;
    let history = resumed.as_ref().map(|r| &r.state.run["history"]);
    let mut callbacks = RunCallbacks::new(
        args,
        (&setup, &dataset.class_names),
        &trainer,
        (&record, history),
    )?;
    let mut bar = (args.verbose == 1).then(|| EpochBar::new(run.epochs));
    let mut lines = (args.verbose > 0).then_some(EpochLines);
    let summary = trainer.fit(&mut callbacks.in_order(bar.as_mut(), lines.as_mut()))?;
    for message in summary.stopped.iter().chain(&summary.notes) {
        eprintln!("{message}");
    }
    test_and_report(args, &mut trainer, (&setup, &dataset), &callbacks)
}

/// The flags a run trains with: the recipe's under the command line's, or, with --resume,
/// the resumed run's (checked against what the command line changes).
fn resolve(
    args: &TrainArgs,
    given: &dyn Fn(&str) -> bool,
) -> Result<(TrainArgs, Option<resume::Resumed>)> {
    let args = &recipe::with_recipe(args, given)?;
    let (args, resumed) = match &args.resume {
        Some(_) => {
            let (args, resumed) = resume::prepare(args, given)?;
            (args, Some(resumed))
        }
        None => (args.clone(), None),
    };
    check_flags(&args, given)?;
    Ok((args, resumed))
}

/// After training: the test line (and --tta's), then --report.
fn test_and_report(
    args: &TrainArgs,
    trainer: &mut Trainer,
    (setup, dataset): (&RunSetup, &Dataset),
    callbacks: &RunCallbacks,
) -> Result<()> {
    let (spec, net) = (&setup.spec, &setup.net);
    let test = trainer.evaluate_test()?;
    println!("{}", test_line(&trainer.logs("test_", &test)));
    if let Some(tta) = trainer.evaluator().tta(&dataset.test.labels)? {
        println!("{}", tta_line(&tta));
    }
    args.report.write(ReportInput {
        title: format!("{} on {}", spec.name, args.run.dataset.name()),
        settings: &serde_json::Value::Object(callbacks.settings.to_map()),
        summary: summary::summary(net),
        diagram: crate::report::diagram::ModelDiagram::of(net),
        history: callbacks.history.as_ref().map(|h| h.epochs()),
        test: &test,
        test_logs: trainer.logs("test_", &test),
        images: &dataset.test,
        image: dataset.image(),
        class_names: &dataset.class_names,
    })
}

/// The run's identity and data: a resumed run's own (its data checked against the data
/// opened), else a new one; a `--checkpoint-dir` must hold this run's checkpoints only.
fn run_record(
    args: &TrainArgs,
    resumed: Option<&resume::Resumed>,
    dataset: &Dataset,
) -> Result<resume::RunIdentity> {
    let record = match resumed {
        Some(r) => {
            r.check_data(dataset)?;
            resume::RunIdentity {
                data_dir: dataset.dir.display().to_string(),
                ..r.record.clone()
            }
        }
        None => resume::RunIdentity::new(dataset),
    };
    if let Some(dir) = &args.checkpoint_dir {
        resume::check_dir_belongs(dir, &record.run_id, resumed.is_some())?;
    }
    Ok(record)
}

/// Where a run's weights come from, when not from the model's initializers.
struct Start<'a> {
    /// `--load`'s (trainable, non-trainable) tensors.
    loaded: Option<&'a checkpoint::Weights>,
    resumed: Option<&'a resume::Resumed>,
}

/// Profiles a step first with `--profile`, then compiles the trainer and sets its starting
/// weights and, when resuming, its optimizer state, epoch and schedule position.
fn start_trainer<'a>(
    args: &TrainArgs,
    ctx: &'a GpuContext,
    (setup, dataset): (&RunSetup, &Dataset),
    start: Start,
) -> Result<Trainer<'a>> {
    let (net, cfg) = (&setup.net, setup.cfg.clone());
    if args.profile {
        let mut probe = Trainer::new(ctx, net, dataset, cfg.clone())?;
        let profile = StepProfile::measure(ctx, &mut probe)?;
        print!("{}", profile_table(&profile, None));
    }
    let mut trainer = Trainer::new(ctx, net, dataset, cfg)?;
    if let Some((params, stats)) = start.loaded {
        trainer.set_weights(params, stats);
    }
    if let Some(r) = start.resumed {
        trainer.restore(&r.state)?;
        if args.verbose > 0 {
            eprintln!(
                "resuming: {} after epoch {}",
                r.path.display(),
                r.state.epoch
            );
        }
    }
    Ok(trainer)
}

/// Locks on the checkpoints this run writes, held until it ends: a second run writing the same
/// place is refused before it loads anything.
fn lock_outputs(args: &TrainArgs) -> Result<Vec<output::OutputLock>> {
    let file = args.save.iter().map(|p| ("--save", p));
    let dir = args.checkpoint_dir.iter().map(|d| ("--checkpoint-dir", d));
    file.chain(dir)
        .map(|(flag, path)| output::OutputLock::acquire(flag, path))
        .collect()
}

/// A checkpoint's weights for `net`, which must be of the dataset it was trained on.
fn load_weights(
    path: &std::path::Path,
    (spec, net): (&ModelSpec, &Network),
    dataset: DatasetKind,
) -> Result<checkpoint::Weights> {
    let info = checkpoint::load_info(path)?;
    info.check_dataset(path, dataset.name())?;
    if let Some(d) = info.spec.difference(spec) {
        return Err(crate::error::Error::Mismatch(format!(
            "{}: {d}",
            path.display()
        )));
    }
    checkpoint::load(
        path,
        &ParamLayout::trainable(net, 1),
        &ParamLayout::non_trainable(net, 1),
    )
}

/// The data, model and adapter lines on stderr.
fn print_setup(args: &TrainArgs, (dataset, setup): (&Dataset, &RunSetup), ctx: &GpuContext) {
    let (spec, net, cfg) = (&setup.spec, &setup.net, &setup.cfg);
    if let Some(name) = &args.recipe {
        eprintln!("recipe: {name}");
    }
    eprintln!(
        "data: {} ({} train, {} test, {}, {} classes), {}",
        dataset.dir.display(),
        dataset.train.len(),
        dataset.test.len(),
        crate::floor::shape::describe(dataset.image()),
        dataset.classes,
        Residency::of(ctx, &dataset.train, cfg.placement()).describe()
    );
    if let Some(note) = &dataset.note {
        eprintln!("  {note}");
    }
    eprintln!(
        "model: {} ({} parameters), {}, batch {}",
        spec.name,
        net.param_count(),
        cfg.optimizer.describe(),
        cfg.batch_size
    );
    if !cfg.schedule.is_constant() {
        eprintln!("learning rate: {}", cfg.schedule.describe());
    }
    if let Some(a) = cfg.augment.filter(Augment::is_active) {
        eprintln!("augmentation: {}", a.describe());
    }
    if let Some(t) = cfg.tta.filter(|t| t.copies > 1) {
        let views = t.copies;
        eprintln!(
            "test-time augmentation: {views} views, {}",
            t.augment.describe()
        );
    }
    eprintln!("adapter: {}", super::adapter_label(ctx));
    if let Some(path) = &args.load {
        eprintln!("weights: {}", path.display());
    }
}
