//! `shaderfit train`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::report::profile_table;
use crate::data::{self, Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::{checkpoint, Activation, ModelSpec, Optimizer, ParamLayout, Shape};
use crate::train::metrics::test_line;
use crate::train::{StepProfile, TrainConfig, Trainer};
use std::collections::HashMap;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A preset (linear, mlp, mlp2, mlp3, mlp_small, mlp_dropout, mlp_bn, lenet, cnn,
    /// cnn_wide, cnn4) or a JSON model file (see `shaderfit model show cnn`).
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Activation of a preset's hidden dense layers (the notebooks vary it for mlp_small).
    #[arg(long, value_enum)]
    pub activation: Option<Activation>,
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// sgd, adam or rmsprop, with Keras's defaults.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate; default Keras's for the optimizer (sgd 0.01, adam 0.001, rmsprop 0.001).
    #[arg(long)]
    pub lr: Option<f32>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f32,
    /// Seed of weight initialisation and shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Dataset directory, or a directory holding <dataset>/. Default: $SHADERFIT_DATA, then
    /// ./data/<dataset>, the user's cache directory, and for fashion-mnist
    /// /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "mnist")]
    pub dataset: DatasetKind,
    /// Hold out the last fraction of the training set for validation (Keras's rule); with 0,
    /// validation runs on the test set, as the reference notebooks do.
    #[arg(long, default_value_t = 0.0)]
    pub validation_split: f64,
    /// Adapter whose name contains this (case-insensitive); default $WGPU_ADAPTER_NAME, then
    /// the high-performance adapter. See `shaderfit devices`.
    #[arg(long)]
    pub adapter: Option<String>,
    /// After every epoch, write the weights to this file (safetensors, Keras's tensor names;
    /// written beside it and renamed, so an interrupted run keeps the last finished epoch).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Start from the weights of this checkpoint (written by --save) instead of a fresh
    /// initialisation; the optimizer starts afresh.
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Before training, print the time of every kernel of one training step, per layer, and
    /// the share of the step spent outside kernels (measured on a separate copy of the model).
    #[arg(long)]
    pub profile: bool,
    /// Training steps recorded into one GPU submission (also the progress bar's granularity).
    #[arg(long, default_value_t = 16)]
    pub steps_per_submit: usize,
    /// Stop after the first epoch whose validation accuracy (the test set's, without
    /// --validation-split) reaches this, and print the training time it took.
    #[arg(long)]
    pub until_accuracy: Option<f64>,
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let optimizer = Optimizer::from_name(&args.optimizer, args.lr, args.momentum)?;
    let cfg = TrainConfig {
        batch_size: args.batch_size,
        epochs: args.epochs,
        optimizer,
        seed: args.seed,
        validation_split: args.validation_split,
        steps_per_submit: args.steps_per_submit,
    };
    cfg.validate()?;
    if let Some(target) = args.until_accuracy {
        if !(target > 0.0 && target <= 1.0) {
            return Err(Error::Config(format!(
                "--until-accuracy: {target} is not an accuracy; expected a number in (0, 1]"
            )));
        }
    }
    let dir = data::dataset::locate(args.dataset, args.data.as_deref())?;
    let dataset = Dataset::load(&dir)?;
    let spec = ModelSpec::from_arg(&args.model, args.activation, dataset.classes)?;
    let net = spec.compile(Shape::new(dataset.rows, dataset.cols, 1), dataset.classes)?;
    // Per-tensor layouts (no GPU padding): what checkpoints hold.
    let trainable = ParamLayout::trainable(&net, 1);
    let non_trainable = ParamLayout::non_trainable(&net, 1);
    let loaded = match &args.load {
        Some(path) => Some(checkpoint::load(path, &trainable, &non_trainable)?),
        None => None,
    };
    let ctx = GpuContext::new(args.adapter.as_deref())?;
    eprintln!(
        "data: {} ({} train, {} test, {}x{}, {} classes)",
        dir.display(),
        dataset.train.len(),
        dataset.test.len(),
        dataset.rows,
        dataset.cols,
        dataset.classes
    );
    eprintln!(
        "model: {} ({} parameters), {}, batch {}",
        spec.name,
        net.param_count(),
        optimizer.describe(),
        args.batch_size
    );
    eprintln!("adapter: {} ({:?})", ctx.info.name, ctx.info.backend);
    if let Some(path) = &args.load {
        eprintln!("weights: {}", path.display());
    }

    if args.profile {
        let mut probe = Trainer::new(&ctx, &net, &dataset, cfg.clone())?;
        let profile = StepProfile::measure(&ctx, &mut probe)?;
        print!("{}", profile_table(&profile, None));
    }
    let mut trainer = Trainer::new(&ctx, &net, &dataset, cfg)?;
    if let Some((params, stats)) = &loaded {
        trainer.set_weights(params, stats);
    }
    let mut out = std::io::stdout().lock();
    let steps = trainer.steps_per_epoch() as u64;
    let mut trained_seconds = 0.0;
    for epoch in 1..=args.epochs {
        // Drawn only when stderr is a terminal; cleared before the epoch's line.
        let bar = ProgressBar::new(steps).with_style(
            ProgressStyle::with_template(
                "Epoch {msg} {pos}/{len} [{bar:30}] {elapsed} (ETA {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("{epoch}/{}", args.epochs));
        let report = trainer.fit_epoch_with(&mut |done| bar.set_position(done as u64));
        bar.finish_and_clear();
        let report = report?;
        if let Some(path) = &args.save {
            let metadata = HashMap::from([
                ("format".to_string(), "shaderfit checkpoint 1".to_string()),
                ("model".to_string(), spec.to_json().to_string()),
                ("epoch".to_string(), epoch.to_string()),
            ]);
            let (params, stats) = (trainer.read_params()?, trainer.read_stats()?);
            checkpoint::save(path, &trainable, &params, &non_trainable, &stats, metadata)?;
        }
        // Flushed per epoch: an interrupted run keeps every finished epoch's line.
        let _ = writeln!(out, "{}", report.line());
        let _ = out.flush();
        trained_seconds += report.seconds;
        if let (Some(target), Some(val)) = (args.until_accuracy, report.validation) {
            if val.accuracy >= target {
                eprintln!(
                    "reached val_accuracy {:.4} >= {target} after {epoch} epoch(s): \
                     {trained_seconds:.2}s of training (validation passes included)",
                    val.accuracy
                );
                break;
            }
        }
    }
    let test = trainer.evaluate_test()?;
    let _ = writeln!(out, "{}", test_line(&test));
    Ok(())
}
