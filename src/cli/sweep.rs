//! `shaderfit sweep`: train one model with every optimizer and learning rate given, print one
//! table best first (also as JSON and as overlaid curves), split over machines with `--shard`
//! and joined again with `sweep merge`, or over this machine's adapters with `--adapters all`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::{Args, Subcommand};

use super::kernels;
use crate::data::{self, Dataset};
use crate::error::{Error, Result};
use crate::gpu::context::list_adapters;
use crate::gpu::GpuContext;
use crate::layers::Shape;
use crate::model::{ModelSpec, Network};
use crate::output;
use crate::report::charts::{Curves, Series, PALETTE};
use crate::report::{self, figure};
use crate::train::sweep::{self, Combination, Outcome, SweepFile};
use crate::train::{RunSettings, TrainConfig};

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
    Merge {
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        out: SweepOutputs,
    },
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
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = super::finite_f32, conflicts_with = "lr")]
    pub lrs: Option<Vec<f32>>,
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run only shard K of N (K from 0): every N-th combination from the K-th, e.g.
    /// $SLURM_ARRAY_TASK_ID/4 or $JOB_COMPLETION_INDEX/4.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Adapter whose name contains this; see `shaderfit devices`.
    #[arg(long, conflicts_with = "adapters")]
    pub adapter: Option<String>,
    /// `all`: run combinations side by side, one per adapter of this machine.
    #[arg(long, value_name = "all")]
    pub adapters: Option<String>,
    #[command(flatten)]
    pub out: SweepOutputs,
}

#[derive(Args, Debug)]
pub struct SweepOutputs {
    /// Also write the results as JSON (`sweep merge` reads these).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the validation curves of every combination, overlaid, and a page with the table.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

/// Runs `sweep`; `given(id)` says whether a flag was typed.
pub fn run(args: &SweepArgs, given: &dyn Fn(&str) -> bool) -> Result<()> {
    match &args.command {
        Some(SweepCommand::Merge { files, out }) => merge(files, out),
        None => sweep(&args.run, given),
    }
}

/// The sweep's axes: `--optimizers` (else `--optimizer`, else sgd, adam and rmsprop) and `--lrs`
/// (else `--lr`, else 0.001, 0.01 and 0.1), each a setting of the run.
fn axes(args: &SweepRun, given: &dyn Fn(&str) -> bool) -> (Vec<String>, Vec<f32>) {
    let optimizers = match &args.optimizers {
        Some(list) => list.clone(),
        None if given("optimizer") => vec![args.run.optimizer.clone()],
        None => ["sgd", "adam", "rmsprop"].map(String::from).to_vec(),
    };
    let lrs = match (&args.lrs, args.run.hyper.lr) {
        (Some(list), _) => list.clone(),
        (None, Some(lr)) => vec![lr],
        (None, None) => vec![0.001, 0.01, 0.1],
    };
    (optimizers, lrs)
}

fn sweep(args: &SweepRun, given: &dyn Fn(&str) -> bool) -> Result<()> {
    let (optimizers, lrs) = axes(args, given);
    let all = sweep::combinations(&optimizers, &lrs);
    let (k, n) = parse_shard(args.shard.as_deref())?;
    // Every combination's settings, checked before the first one trains.
    for c in &all {
        sweep::settings_of(&args.run, c)?;
    }
    prepare_outputs(&args.out)?;
    let todo = sweep::shard(all.clone(), k, n);
    let run = &args.run;
    let classes = run.classes.map(usize::from);
    let dataset = data::dataset::open_expecting(run.dataset, args.data.as_deref(), classes)?;
    let spec = ModelSpec::from_arg(&run.model, run.activation, dataset.classes)?;
    let net = spec.compile(Shape::new(dataset.rows, dataset.cols, 1), dataset.classes)?;
    eprintln!(
        "sweep: {} on {}, {} of {} combinations (shard {k}/{n}), {} epochs each",
        spec.name,
        run.dataset.name(),
        todo.len(),
        all.len(),
        run.epochs
    );
    let adapters = adapters(args)?;
    let outcomes = run_all(&adapters, (&net, &dataset, run), todo)?;
    let mut defines = crate::settings::to_map(run);
    defines.insert("optimizers".into(), serde_json::json!(optimizers));
    defines.insert("lrs".into(), crate::settings::json(&lrs));
    defines.insert("data".into(), dataset.fingerprint().into());
    let file = SweepFile {
        defines,
        model: spec.name.clone(),
        dataset: run.dataset.name().into(),
        epochs: run.epochs,
        batch_size: run.batch_size,
        seed: run.seed,
        combinations: all.len(),
        shard: format!("{k}/{n}"),
        outcomes,
    };
    finish(file, &args.out)
}

/// Creates the folders the outputs go in, so that a long sweep cannot fail at its end.
fn prepare_outputs(out: &SweepOutputs) -> Result<()> {
    if let Some(path) = &out.json {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            output::prepare_dir("--json", dir)?;
        }
        output::check_writable("--json", path)?;
    }
    if let Some(dir) = &out.report {
        output::check_replaceable_dir("--report", dir)?;
    }
    Ok(())
}

/// `K/N` as (k, n) with k < n; none is the whole sweep.
fn parse_shard(text: Option<&str>) -> Result<(usize, usize)> {
    let Some(text) = text else { return Ok((0, 1)) };
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((k, n)) if n > 0 && k < n => Ok((k, n)),
        _ => Err(Error::flag(
            "--shard",
            format!("'{text}'; expected K/N with 0 <= K < N, e.g. 0/4"),
        )),
    }
}

/// Which adapters run combinations: `--adapters all` every one `devices` lists, else one.
fn adapters(args: &SweepRun) -> Result<Vec<Option<usize>>> {
    match args.adapters.as_deref() {
        None => Ok(vec![None]),
        Some("all") => {
            let n = list_adapters().len();
            if n == 0 {
                return Err(Error::Gpu(
                    "no adapter found; see `shaderfit devices`".into(),
                ));
            }
            Ok((0..n).map(Some).collect())
        }
        Some(other) => Err(Error::flag(
            "--adapters",
            format!("'{other}'; expected all (or --adapter NAME for one)"),
        )),
    }
    .map(|list| {
        if args.adapter.is_some() {
            vec![None]
        } else {
            list
        }
    })
}

/// Runs every combination, each adapter taking the next from a shared queue, and prints a
/// line as each finishes. Results come back in the sweep's order.
fn run_all(
    adapters: &[Option<usize>],
    (net, data, base): (&Network, &Dataset, &RunSettings),
    todo: Vec<Combination>,
) -> Result<Vec<Outcome>> {
    let total = todo.len();
    let queue = Mutex::new(todo.into_iter().collect::<VecDeque<_>>());
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = adapters
            .iter()
            .map(|&adapter| {
                let (queue, done) = (&queue, &done);
                scope.spawn(move || -> Result<()> {
                    let ctx = match adapter {
                        Some(i) => GpuContext::on_adapter(i)?,
                        None => GpuContext::new(None)?,
                    };
                    while let Some(c) = queue.lock().expect("queue").pop_front() {
                        let cfg = TrainConfig {
                            kernels: kernels::policy(&ctx.info),
                            ..sweep::settings_of(base, &c)?.config(data)?
                        };
                        let outcome = sweep::run(&ctx, (net, data), cfg, &c)?;
                        let mut done = done.lock().expect("results");
                        done.push(outcome);
                        eprintln!(
                            "[{}/{total}] {}",
                            done.len(),
                            progress_line(done.last().expect("pushed"))
                        );
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a sweep worker panicked"))
    })?;
    let mut outcomes = done.into_inner().expect("results");
    outcomes.sort_by_key(|o| o.combination.index);
    Ok(outcomes)
}

/// A learning rate as it would be typed: `0.01`, `1e30` (not 31 digits).
fn lr_text(lr: f32) -> String {
    match lr != 0.0 && !(1e-4..1e4).contains(&lr.abs()) {
        true => format!("{lr:e}"),
        false => lr.to_string(),
    }
}

fn progress_line(o: &Outcome) -> String {
    if let Some(why) = &o.diverged {
        return format!(
            "{} lr {}: {why} ({:.1}s on {})",
            o.combination.optimizer,
            lr_text(o.combination.learning_rate),
            o.seconds,
            o.adapter
        );
    }
    let (best, epoch) = o.best();
    format!(
        "{} lr {}: val_accuracy {:.4}, best {best:.4} at epoch {epoch} ({:.1}s on {})",
        o.combination.optimizer,
        lr_text(o.combination.learning_rate),
        o.final_val_accuracy(),
        o.seconds,
        o.adapter
    )
}

fn merge(files: &[PathBuf], out: &SweepOutputs) -> Result<()> {
    let read = |path: &PathBuf| -> Result<(String, SweepFile)> {
        let text = crate::input::read_to_string(path)?;
        let file = serde_json::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!("not a sweep's JSON ({e}); expected a file written by `sweep --json`"),
            )
        })?;
        Ok((path.display().to_string(), file))
    };
    prepare_outputs(out)?;
    let merged = SweepFile::merge(files.iter().map(read).collect::<Result<_>>()?)?;
    let missing = merged.missing();
    if !missing.is_empty() {
        eprintln!(
            "warning: combinations {missing:?} are in none of the files; the table lacks them"
        );
    }
    finish(merged, out)
}

/// Prints the table and writes the JSON and the report asked for.
fn finish(mut file: SweepFile, out: &SweepOutputs) -> Result<()> {
    sweep::rank(&mut file.outcomes);
    print!("{}", table(&file.outcomes));
    if let Some(path) = &out.json {
        let text = serde_json::to_string_pretty(&file).expect("a sweep serialises") + "\n";
        crate::output::replace(path, text.as_bytes())?;
    }
    if let Some(dir) = &out.report {
        let page = write_report(dir, &file)?;
        eprintln!("report: {}", page.display());
    }
    Ok(())
}

/// The comparison, best first.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "{:>4}  {:<9} {:>8}  {:>12}  {:>8}  {:>5}  {:>8}\n",
        "rank", "optimizer", "lr", "val_accuracy", "best", "epoch", "seconds"
    );
    for (i, o) in outcomes.iter().enumerate() {
        let (best, epoch) = o.best();
        let (last, best, epoch) = match (&o.diverged, o.val_accuracy.is_empty()) {
            (Some(_), true) => ("diverged".into(), "-".into(), "-".into()),
            _ => (
                format!("{:.4}", o.final_val_accuracy()),
                format!("{best:.4}"),
                epoch.to_string(),
            ),
        };
        let note = match &o.diverged {
            Some(why) => format!("  ({why})"),
            None => String::new(),
        };
        s += &format!(
            "{:>4}  {:<9} {:>8}  {last:>12}  {best:>8}  {epoch:>5}  {:>8.1}{note}\n",
            i + 1,
            o.combination.optimizer,
            lr_text(o.combination.learning_rate),
            o.seconds
        );
    }
    s
}

/// The overlaid validation curves and a page with them and the table.
fn write_report(dir: &Path, file: &SweepFile) -> Result<PathBuf> {
    // Checked by `prepare_outputs` before the sweep began; replaced whole.
    output::replace_dir(dir, |staging| write_report_into(staging, file))?;
    Ok(dir.join("index.html"))
}

/// The sweep report's files, into the empty directory `dir`.
fn write_report_into(dir: &Path, file: &SweepFile) -> Result<()> {
    let series = |pick: fn(&Outcome) -> &Vec<f64>| -> Vec<Series> {
        file.outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| Series {
                name: format!(
                    "{} {}",
                    o.combination.optimizer,
                    lr_text(o.combination.learning_rate)
                ),
                color: PALETTE[i % PALETTE.len()],
                values: pick(o).clone(),
            })
            .collect()
    };
    let curves = Curves {
        panels: vec![
            ("Validation loss".into(), series(|o| &o.val_loss)),
            ("Validation accuracy".into(), series(|o| &o.val_accuracy)),
        ],
    };
    figure::save(&curves, dir, "sweep")?;
    let title = format!(
        "sweep of {} on {}, {} epochs",
        file.model, file.dataset, file.epochs
    );
    let page = dir.join("index.html");
    let html = report::html::table_page(&title, &table(&file.outcomes), "sweep");
    std::fs::write(&page, html).map_err(|e| Error::Io {
        path: page.clone(),
        source: e,
    })
}
