//! `shaderfit evaluate`: a checkpoint's test loss and accuracy, its confusion matrix (counted
//! on the GPU) and scikit-learn's per-class report. The model comes from the checkpoint.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::data_flags::DataFlags;
use super::kernels;
use super::report_flags::ReportFlags;
use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::eval::metrics::{ConfusionMatrix, Logs};
use crate::eval::{CountMatrix, EvalConfig, Evaluator, Pass, PassMetrics, Tta, Validation};
use crate::floor::augment::Augment;
use crate::floor::shape::describe;
use crate::gpu::GpuContext;
use crate::model::Network;
use crate::model::{checkpoint, summary, ParamLayout};
use crate::report::ReportInput;
use crate::train::{test_line, tta_line};

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// A checkpoint written by `shaderfit train --save`; it holds the model's spec.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub source: DataFlags,
    #[arg(long, value_enum, default_value = "mnist")]
    pub dataset: DatasetKind,
    /// Test images per evaluation step (default: the largest the adapter's limits allow, up
    /// to 1024; the counts do not depend on it).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adapter whose name contains this; see `shaderfit devices`.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Test-time augmentation: also score each image by its class probabilities averaged over
    /// the image and N - 1 copies augmented by --tta-augment; 1 for none.
    #[arg(long, value_name = "N")]
    pub tta: Option<usize>,
    /// The transforms of --tta's copies, e.g. shift=2,rotate=10,zoom=0.1 (default: the
    /// training run's --augment, which the checkpoint records).
    #[arg(long, value_name = "SPEC", requires = "tta")]
    pub tta_augment: Option<String>,
    /// Metrics besides the loss, by Keras's names, as for `train`: accuracy,
    /// top_k_accuracy:K.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "accuracy"
    )]
    pub metrics: Vec<String>,
    #[command(flatten)]
    pub report: ReportFlags,
}

pub fn run(args: &EvaluateArgs) -> Result<()> {
    if let Some(dir) = &args.report.dir {
        crate::output::check_replaceable_dir("--report", dir)?;
    }
    let metrics = crate::eval::metrics::parse_list("--metrics", &args.metrics)?;
    let info = checkpoint::load_info(&args.checkpoint)?;
    let tta = tta_flags(args, &info)?;
    info.check_dataset(&args.checkpoint, args.dataset.name())?;
    let spec = info.spec.clone();
    let dataset = args.source.open(args.dataset, None)?;
    args.report.check(&dataset)?;
    if info.input != dataset.image() {
        return Err(Error::file(
            &args.checkpoint,
            format!(
                "its model takes {} images; the data {} holds {} images",
                describe(info.input),
                dataset.dir.display(),
                describe(dataset.image())
            ),
        ));
    }
    let net = spec.compile(dataset.image(), dataset.classes)?;
    let (params, stats) = checkpoint::load(
        &args.checkpoint,
        &ParamLayout::trainable(&net, 1),
        &ParamLayout::non_trainable(&net, 1),
    )?;
    let ctx = GpuContext::new(args.adapter.as_deref())?;
    print_setup(args, (&dataset, &spec.name, &net), &ctx);
    let cfg = EvalConfig {
        batch_size: args.batch_size,
        kernels: kernels::policy(&ctx.info),
        accumulators: match args.report.dir {
            Some(_) => ReportFlags::metrics(&dataset),
            None => vec![Arc::new(ConfusionMatrix)],
        },
        tta,
        metrics,
        ..Default::default()
    };
    let weights = (params.as_slice(), stats.as_slice());
    let test_split = (&dataset.test, Validation::OnTest);
    let evaluator = Evaluator::new(&ctx, &net, weights, cfg, test_split)?;
    let test = evaluator.evaluate(Pass::Test)?;
    print_results(&evaluator, &test, &dataset)?;
    let logs = evaluator.logs("test_", &test);
    write_report(
        args,
        (&info, &net, evaluator.batch()),
        (&dataset, &test, logs),
    )?;
    Ok(())
}

/// The data, model and adapter lines on stderr.
fn print_setup(
    args: &EvaluateArgs,
    (dataset, name, net): (&Dataset, &str, &Network),
    ctx: &GpuContext,
) {
    eprintln!("data: {}", dataset.dir.display());
    eprintln!(
        "model: {} ({} parameters), from {}",
        name,
        net.param_count(),
        args.checkpoint.display()
    );
    eprintln!("adapter: {}", super::adapter_label(ctx));
}

/// The test line (and --tta's), then the confusion matrix and the per-class report.
fn print_results(evaluator: &Evaluator, test: &PassMetrics, dataset: &Dataset) -> Result<()> {
    println!("{}", test_line(&evaluator.logs("test_", test)));
    if let Some(tta) = evaluator.tta(&dataset.test.labels)? {
        println!("{}", tta_line(&tta));
    }
    if let Some(counts) = test.counts("confusion_matrix") {
        let color = std::io::stdout().is_terminal();
        print!(
            "\n{}\n{}",
            confusion_table(counts, color),
            classification_report(counts)
        );
    }
    Ok(())
}

/// `--tta` and `--tta-augment` (default: the training run's `--augment`, which the checkpoint
/// records).
fn tta_flags(args: &EvaluateArgs, info: &checkpoint::CheckpointInfo) -> Result<Option<Tta>> {
    let augment = args
        .tta_augment
        .as_deref()
        .map(|spec| crate::settings::augment_flag("--tta-augment", spec))
        .transpose()?
        .or_else(|| info.augment.as_deref().and_then(|a| Augment::parse(a).ok()));
    args.tta.map(|n| Tta::new(n, augment)).transpose()
}

/// The report of `evaluate --report`: the test pass's figures, without curves.
fn write_report(
    args: &EvaluateArgs,
    (info, net, eval_batch): (&checkpoint::CheckpointInfo, &crate::model::Network, usize),
    (dataset, test, test_logs): (&Dataset, &PassMetrics, Logs),
) -> Result<()> {
    let spec = &info.spec;
    let settings = serde_json::json!({
        "checkpoint": args.checkpoint.display().to_string(),
        "model": spec.to_json(),
        "dataset": args.dataset.name(),
        "data": dataset.dir.display().to_string(),
        "epochs trained": info.epoch,
        "batch_size": eval_batch,
    });
    let input = ReportInput {
        title: format!("{} on {}", spec.name, args.dataset.name()),
        settings: &settings,
        summary: summary::summary(net),
        diagram: crate::report::diagram::ModelDiagram::of(net),
        history: None,
        test,
        test_logs,
        images: &dataset.test,
        image: dataset.image(),
        class_names: &dataset.class_names,
    };
    args.report.write(input)
}

/// The confusion matrix, true classes down and predicted across. On a terminal the diagonal
/// is green and the three largest confusions bold red; a line names those confusions anyway.
pub fn confusion_table(m: &CountMatrix, color: bool) -> String {
    let largest = m.largest_confusions(3);
    let width = m
        .counts
        .iter()
        .max()
        .map_or(1, |c| c.to_string().len())
        .max(m.cols.to_string().len())
        + 2;
    let mut s = String::from("Confusion matrix (rows: true class, columns: predicted class)\n");
    s += &format!("{:>6}", "");
    for c in 0..m.cols {
        s += &format!("{c:>width$}");
    }
    s.push('\n');
    for r in 0..m.rows {
        s += &format!("{r:>6}");
        for c in 0..m.cols {
            let cell = format!("{:>width$}", m.at(r, c));
            s += &match (
                color,
                r == c,
                largest.iter().any(|&(t, p, _)| (t, p) == (r, c)),
            ) {
                (true, true, _) => format!("\x1b[32m{cell}\x1b[0m"),
                (true, false, true) => format!("\x1b[1;31m{cell}\x1b[0m"),
                _ => cell,
            };
        }
        s.push('\n');
    }
    let named: Vec<String> = largest
        .iter()
        .map(|(t, p, n)| format!("{t} taken for {p} ({n})"))
        .collect();
    if !named.is_empty() {
        s += &format!("largest confusions: {}\n", named.join(", "));
    }
    s
}

/// Per-class precision, recall, F1 and support, then accuracy and the macro and weighted
/// averages, in scikit-learn's `classification_report` layout (two digits).
pub fn classification_report(m: &CountMatrix) -> String {
    let scores = m.per_class();
    let total: u64 = scores.iter().map(|s| s.support).sum();
    let width = "weighted avg".len();
    let row = |name: &str, p: f64, r: f64, f: f64, n: u64| {
        format!("{name:>width$}  {p:>9.2} {r:>9.2} {f:>9.2} {n:>9}\n")
    };
    let mut s = format!(
        "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n",
        "", "precision", "recall", "f1-score", "support"
    );
    for (c, sc) in scores.iter().enumerate() {
        s += &row(&c.to_string(), sc.precision, sc.recall, sc.f1, sc.support);
    }
    s.push('\n');
    let accuracy = m.trace() as f64 / total.max(1) as f64;
    s += &format!(
        "{:>width$}  {:>9} {:>9} {accuracy:>9.2} {total:>9}\n",
        "accuracy", "", ""
    );
    let n = scores.len().max(1) as f64;
    let mean =
        |f: fn(&crate::eval::metrics::ClassScores) -> f64| scores.iter().map(f).sum::<f64>() / n;
    s += &row(
        "macro avg",
        mean(|c| c.precision),
        mean(|c| c.recall),
        mean(|c| c.f1),
        total,
    );
    let weighted = |f: fn(&crate::eval::metrics::ClassScores) -> f64| {
        scores.iter().map(|c| f(c) * c.support as f64).sum::<f64>() / total.max(1) as f64
    };
    s += &row(
        "weighted avg",
        weighted(|c| c.precision),
        weighted(|c| c.recall),
        weighted(|c| c.f1),
        total,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes: class 0 has 3 samples, 2 right; class 1 has 2, both right. Precision of 0
    /// is 2/2, recall 2/3; of 1, 2/3 and 2/2 (scikit-learn gives the same figures).
    #[test]
    fn the_report_follows_scikit_learns() {
        let m = CountMatrix {
            rows: 2,
            cols: 2,
            counts: vec![2, 1, 0, 2],
        };
        let report = classification_report(&m);
        let want = "              precision    recall  f1-score   support\n\n\
                    \x20          0       1.00      0.67      0.80         3\n\
                    \x20          1       0.67      1.00      0.80         2\n\n\
                    \x20   accuracy                           0.80         5\n\
                    \x20  macro avg       0.83      0.83      0.80         5\n\
                    weighted avg       0.87      0.80      0.80         5\n";
        assert_eq!(report, want);
        let table = confusion_table(&m, false);
        assert!(
            table.ends_with("largest confusions: 0 taken for 1 (1)\n"),
            "{table}"
        );
    }
}
