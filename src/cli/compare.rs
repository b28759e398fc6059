//! `shaderfit compare`: train runs that differ in some settings (the cross product of axes
//! such as `--models mlp_bn,lenet`, `--grid key=v1,v2`, or the runs a `--runs` file lists),
//! or read finished runs' histories, and compare them in one table best first, as JSON and as
//! a report. `--shard` splits the runs over machines and `compare merge` joins the shards.
//! `sweep` is the comparison over optimizers and learning rates, run by the same code.

pub mod axes;
mod ledger;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

pub use axes::AxisFlags;
use ledger::Ledger;

use super::data_flags::DataFlags;
use super::kernels;
use super::report_flags::ReportFlags;
use crate::data::{Dataset, DatasetKind};
use crate::error::{Error, Result};
use crate::gpu::context::list_adapters;
use crate::gpu::GpuContext;

use crate::model::ModelSpec;
use crate::output;
use crate::report::compare::{CompareInput, TestImages};
use crate::settings::RunSettings;
use crate::settings::{self, Settings};
use crate::train::compare::{self, Axis, CompareFile, Outcome, Run, RECIPE};
use crate::train::record::RunRecord;
use crate::train::setup::{self, Origin, RunSetup};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CompareArgs {
    #[command(subcommand)]
    pub command: Option<CompareCommand>,
    #[command(flatten)]
    pub run: CompareRun,
}

#[derive(Subcommand, Debug)]
pub enum CompareCommand {
    /// Join the JSON files of a comparison's shards into one table (and --json, --report).
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// The data the runs were scored on, for the report's galleries (found as `train` finds
    /// it; without it the report has none).
    #[command(flatten)]
    pub source: DataFlags,
    #[command(flatten)]
    pub out: CompareOutputs,
}

#[derive(Args, Debug)]
pub struct CompareRun {
    /// Finished runs to compare instead of training: history files written by `train
    /// --history FILE.json`.
    #[arg(value_name = "HISTORY")]
    pub finished: Vec<PathBuf>,
    /// The settings every run shares (all of `train`'s); the axes below vary some of them.
    #[command(flatten)]
    pub run: RunSettings,
    #[command(flatten)]
    pub axes: AxisFlags,
    /// Any setting as an axis: its key (a flag of `train` with `_` for `-`) and its values,
    /// e.g. --grid epochs=5,10 --grid label_smoothing=0,0.1 (repeatable).
    #[arg(long, value_name = "KEY=V1,V2")]
    pub grid: Vec<String>,
    /// The runs, listed instead of crossed: a JSON array of objects, each the settings that
    /// run changes, e.g. [{"model": "mlp_bn"}, {"model": "lenet", "optimizer": "sgd"}].
    #[arg(long, value_name = "FILE.json")]
    pub runs: Option<PathBuf>,
    /// The most runs the axes may cross into (a larger grid is refused before anything is set
    /// up, as more likely a typo than a plan).
    #[arg(long, value_name = "N", default_value_t = compare::MAX_RUNS)]
    pub max_runs: usize,
    #[command(flatten)]
    pub place: Placement,
    #[command(flatten)]
    pub out: CompareOutputs,
}

/// Where the runs train: the data, this machine's share of them and its adapters.
#[derive(Args, Debug)]
pub struct Placement {
    #[command(flatten)]
    pub source: DataFlags,
    /// Run only shard K of N (K from 0): every N-th run from the K-th, e.g.
    /// $JOB_COMPLETION_INDEX/4 (scripts/slurm-compare.sh derives it for a Slurm array).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Adapter whose name contains this; see `shaderfit devices`.
    #[arg(long, conflicts_with = "adapters")]
    pub adapter: Option<String>,
    /// `all`: train runs side by side, one per adapter of this machine.
    #[arg(long, value_name = "all")]
    pub adapters: Option<String>,
}

#[derive(Args, Debug)]
pub struct CompareOutputs {
    /// Also write the results as JSON (`merge` reads these).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a report: every run's curves overlaid and its own, the confusion matrices side
    /// by side, per-class F1 by run, the mistakes one run makes and another does not, and a
    /// page with the table and each run's model.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// The report's mistake galleries are at most N x N images.
    #[arg(long, default_value_t = 3, value_name = "N", requires = "report")]
    pub gallery: usize,
}

/// What to train: the shared settings, the axes and the runs they make.
pub struct Job<'a> {
    pub base: &'a RunSettings,
    /// Whether a setting was typed (a recipe's settings do not override those).
    pub typed: &'a dyn Fn(&str) -> bool,
    pub axes: Vec<Axis>,
    pub runs: Vec<Run>,
    /// The `--runs` file the runs come from, if they do.
    pub listed: Option<(PathBuf, Value)>,
    /// Each listed run's place in the `--runs` file (from 0), by its index.
    pub places: Vec<usize>,
}

impl Job<'_> {
    /// Every run's settings, checked before the first trains; errors name the axis or file
    /// that gave the value, and two runs alike are refused.
    fn settings(&self) -> Result<Vec<RunSettings>> {
        let all = self
            .runs
            .iter()
            .map(|run| {
                compare::settings_of(self.base, self.typed, run)
                    .map_err(|e| self.blame(e, run.index))
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some((a, b)) = compare::first_identical(&all) {
            let show = |i: usize| compare::show_values(&self.runs[i - 1].values);
            // A listed run by its place in the file.
            let place = |i: usize| self.places.get(i - 1).map_or(i, |p| p + 1);
            let (first, second) = (place(a).min(place(b)), place(a).max(place(b)));
            return Err(Error::Mismatch(format!(
                "{}: runs {first} ({}) and {second} ({}) train the same settings; expected runs that differ",
                self.origin(),
                show(a),
                show(b)
            )));
        }
        Ok(all)
    }

    /// `e`, an error of run `index`'s settings, as the place that gave them: the runs file
    /// and the run, or the axis.
    fn blame(&self, e: Error, index: usize) -> Error {
        match &self.listed {
            Some((path, _)) => {
                let place = self.places.get(index).copied().unwrap_or(index);
                Error::file(path, format!("run {}: {e}", place + 1))
            }
            None => compare::name_axis(e, &self.axes),
        }
    }

    /// The flags or file the runs come from, for errors.
    fn origin(&self) -> String {
        match &self.listed {
            Some((path, _)) => path.display().to_string(),
            None => {
                let mut flags: Vec<&str> = self.axes.iter().map(|a| a.flag.as_str()).collect();
                flags.dedup();
                flags.join(", ")
            }
        }
    }

    /// What defines the comparison, which its shards must share: the shared settings, each
    /// axis' values (under its flag's name) or the runs file, the architecture of each model
    /// the runs name (a model file edited between two shards is another comparison), and the
    /// data.
    fn defines(
        &self,
        all: &[RunSettings],
        datasets: &[OpenData],
    ) -> Result<serde_json::Map<String, Value>> {
        let mut defines = settings::to_map(self.base);
        for axis in &self.axes {
            let name = axis.flag.trim_start_matches("--");
            let name = match name == "grid" {
                true => format!("grid {}", axis.key),
                false => name.to_string(),
            };
            defines.insert(name, Value::Array(axis.values.clone()));
        }
        if let Some((_, runs)) = &self.listed {
            defines.insert("runs".into(), runs.clone());
        }
        defines.insert(
            "model architectures".into(),
            model_prints(all, datasets, &|e, i| self.blame(e, i))?.into(),
        );
        let prints: Vec<String> = datasets.iter().map(|d| d.data.fingerprint()).collect();
        defines.insert("data".into(), prints.join(",").into());
        Ok(defines)
    }
}

/// Runs `compare`; `given(id)` says whether a flag was typed.
pub fn run(args: &CompareArgs, given: &dyn Fn(&str) -> bool) -> Result<()> {
    match &args.command {
        Some(CompareCommand::Merge(m)) => run_merge(m),
        None if !args.run.finished.is_empty() => finished(&args.run, given),
        None => {
            let a = &args.run;
            let axes = axes::of(&a.axes, &a.grid)?;
            let (runs, listed, places) = match &a.runs {
                Some(path) => {
                    if let Some(axis) = axes.first() {
                        return Err(Error::flag(
                            axis.flag.clone(),
                            format!("given with --runs {}, which lists the runs; expected the axes or the list, not both", path.display()),
                        ));
                    }
                    let l = axes::read_runs(path)?;
                    (l.runs, Some((path.clone(), l.json)), l.places)
                }
                None => {
                    compare::check_grid_size(&axes, a.max_runs)?;
                    (compare::grid(&axes), None, Vec::new())
                }
            };
            if axes.is_empty() && listed.is_none() {
                return Err(Error::flag(
                    "--models",
                    "no runs to compare: expected axes (--models, --optimizers, --lrs, --grid KEY=V1,V2, ...), --runs FILE.json, or history files",
                ));
            }
            let job = Job {
                base: &a.run,
                typed: given,
                axes,
                runs,
                listed,
                places,
            };
            execute(&job, &a.place, &a.out)
        }
    }
}

/// One dataset the runs train on, opened once.
struct OpenData {
    kind: DatasetKind,
    classes: Option<u16>,
    data: Dataset,
}

/// A run ready to train: its settings, set up as `train` sets a run up, and its data.
struct Prepared<'a> {
    run: Run,
    settings: &'a RunSettings,
    setup: RunSetup,
    data: &'a Dataset,
}

/// Trains `job`'s runs of this shard, then prints the table and writes the outputs.
pub fn execute(job: &Job, place: &Placement, out: &CompareOutputs) -> Result<()> {
    let (k, n) = parse_shard(place.shard.as_deref())?;
    let all = job.settings()?;
    prepare_outputs(out)?;
    let adapters = adapters(place)?;
    let datasets = open_data(&all, &place.source)?;
    if out.report.is_some() {
        let first = &datasets[0].data;
        crate::report::gallery::check_grid("--gallery", out.gallery, (first.rows, first.cols))?;
    }
    let mine = compare::shard(job.runs.clone(), k, n);
    let fresh = CompareFile {
        defines: job.defines(&all, &datasets)?,
        dataset: datasets[0].kind.name().into(),
        runs: all.len(),
        shard: format!("{k}/{n}"),
        outcomes: Vec::new(),
    };
    let ledger = Arc::new(Ledger::open(fresh, out.json.as_deref(), mine.len())?);
    let finished = ledger.finished();
    let todo: Vec<Prepared> = mine
        .into_iter()
        .filter(|run| !finished.contains(&run.index))
        .map(|run| {
            let index = run.index;
            prepare(run, &all[index], &datasets).map_err(|e| job.blame(e, index))
        })
        .collect::<Result<_>>()?;
    announce(job, (&todo, finished.len(), all.len()), (k, n));
    ledger.exit_on_interrupt();
    run_all(&adapters, place.adapter.as_deref(), todo, &ledger)?;
    finish(ledger.file(), out, Some(&datasets[0].data))
}

/// The line that says what this shard trains (and what an earlier run of it finished).
fn announce(job: &Job, (todo, done, all): (&[Prepared], usize, usize), (k, n): (usize, usize)) {
    let epochs = match job.base.epochs {
        1 => "1 epoch".to_string(),
        e => format!("{e} epochs"),
    };
    let resumed = match done {
        0 => String::new(),
        d => format!(" ({d} already finished, in the --json file)"),
    };
    eprintln!(
        "compare: {} of {all} runs (shard {k}/{n}){resumed} on {}, {epochs} each unless a run sets its own",
        todo.len(),
        job.base.dataset.name(),
    );
}

/// Each model the runs name and the fingerprint of its architecture, `mlp_bn 3f2a...`, once
/// each, in the runs' order; `blame` names where a run's model came from in its errors.
fn model_prints(
    all: &[RunSettings],
    datasets: &[OpenData],
    blame: &dyn Fn(Error, usize) -> Error,
) -> Result<Vec<Value>> {
    let mut prints: Vec<Value> = Vec::new();
    for (i, s) in all.iter().enumerate() {
        let data = &datasets
            .iter()
            .find(|d| d.kind == s.dataset && d.classes == s.classes)
            .expect("every run's data was opened")
            .data;
        let spec =
            ModelSpec::from_arg(&s.model, s.activation, data.classes).map_err(|e| blame(e, i))?;
        let print = Value::from(format!("{} {}", s.model, spec.fingerprint()));
        if !prints.contains(&print) {
            prints.push(print);
        }
    }
    Ok(prints)
}

/// Each dataset the runs name (by kind and class count), opened once.
fn open_data(all: &[RunSettings], source: &DataFlags) -> Result<Vec<OpenData>> {
    let mut open: Vec<OpenData> = Vec::new();
    for s in all {
        if open
            .iter()
            .any(|d| d.kind == s.dataset && d.classes == s.classes)
        {
            continue;
        }
        let classes = s.classes.map(usize::from);
        open.push(OpenData {
            kind: s.dataset,
            classes: s.classes,
            data: source.open(s.dataset, classes)?,
        });
    }
    Ok(open)
}

fn prepare<'a>(run: Run, s: &'a RunSettings, datasets: &'a [OpenData]) -> Result<Prepared<'a>> {
    let found = datasets
        .iter()
        .find(|d| d.kind == s.dataset && d.classes == s.classes);
    let data = &found.expect("every run's data was opened").data;
    let recipe = run.values.get(RECIPE).and_then(Value::as_str);
    let origin = Origin { spec: None, recipe };
    let setup = setup::setup(s, data, origin)?;
    Ok(Prepared {
        run,
        settings: s,
        setup,
        data,
    })
}

/// Checks before any training that the outputs can be written, so a long run cannot fail at
/// its end.
fn prepare_outputs(out: &CompareOutputs) -> Result<()> {
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

/// `K/N` as (k, n) with k < n; none is every run.
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

/// Which adapters train runs: `--adapters all` every one `devices` lists, else one.
fn adapters(place: &Placement) -> Result<Vec<Option<usize>>> {
    match place.adapters.as_deref() {
        None => Ok(vec![None]),
        Some("all") => match list_adapters().len() {
            0 => Err(Error::Gpu(
                "no adapter found; see `shaderfit devices`".into(),
            )),
            n => Ok((0..n).map(Some).collect()),
        },
        Some(other) => Err(Error::flag(
            "--adapters",
            format!("'{other}'; expected all (or --adapter NAME for one)"),
        )),
    }
}

/// Trains every run, each adapter taking the next from a shared queue, records each in the
/// ledger as it finishes and prints a line for it.
fn run_all(
    adapters: &[Option<usize>],
    named: Option<&str>,
    todo: Vec<Prepared>,
    ledger: &Ledger,
) -> Result<()> {
    let total = todo.len();
    let queue = Mutex::new(todo.into_iter().collect::<VecDeque<_>>());
    let done = Mutex::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = adapters
            .iter()
            .map(|&adapter| {
                let (queue, done) = (&queue, &done);
                scope.spawn(move || -> Result<()> {
                    let ctx = match adapter {
                        Some(i) => GpuContext::on_adapter(i)?,
                        None => GpuContext::new(named)?,
                    };
                    while let Some(p) = queue.lock().expect("queue").pop_front() {
                        let outcome = train_one(&ctx, p)?;
                        let line = progress_line(&outcome);
                        ledger.add(outcome)?;
                        let mut done = done.lock().expect("count");
                        *done += 1;
                        eprintln!("[{done}/{total}] {line}");
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a comparison worker panicked"))
    })
}

/// Trains `p` on `ctx` with the adapter's kernels, keeping what the report needs.
fn train_one(ctx: &GpuContext, mut p: Prepared) -> Result<Outcome> {
    p.setup.cfg.kernels = kernels::policy(&ctx.info);
    p.setup.cfg.accumulators = ReportFlags::metrics(p.data);
    compare::train(ctx, (p.setup, p.settings, p.data), &p.run)
}

fn progress_line(o: &Outcome) -> String {
    let what = compare::show_values(&o.run.values);
    if let Some(why) = &o.diverged {
        return format!("{what}: {why} ({:.1}s on {})", o.seconds, o.adapter);
    }
    let (best, epoch) = o.best();
    let test = o.test.as_ref().map_or(f64::NAN, |t| t.accuracy);
    format!(
        "{what}: val_accuracy {:.4}, best {best:.4} at epoch {epoch}, test_accuracy {test:.4} ({:.1}s on {})",
        o.final_val_accuracy(),
        o.seconds,
        o.adapter
    )
}

/// `compare a.json b.json`: finished runs from their histories. Nothing trains, so no flag of
/// a run to train may be given.
fn finished(args: &CompareRun, given: &dyn Fn(&str) -> bool) -> Result<()> {
    let training: Vec<String> = RunSettings::keys()
        .iter()
        .map(|k| k.0.to_string())
        .chain(axes::ids())
        .chain(
            [
                "grid", "runs", "max_runs", "shard", "adapter", "adapters", "data", "format",
            ]
            .map(String::from),
        )
        .collect();
    if let Some(id) = training.iter().find(|id| given(id)) {
        return Err(Error::flag(
            settings::flag_of(id),
            "given with history files, which compare finished runs; expected either runs to train or histories",
        ));
    }
    prepare_outputs(&args.out)?;
    let outcomes = args
        .finished
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let text = crate::input::read_to_string(path)?;
            let name = path.display().to_string();
            Outcome::finished(&name, i, RunRecord::parse(&name, &text)?)
        })
        .collect::<Result<Vec<_>>>()?;
    refuse_twice(&outcomes)?;
    let dataset = outcomes[0].settings.run.dataset.name();
    let file = CompareFile {
        defines: serde_json::Map::new(),
        dataset: dataset.into(),
        runs: outcomes.len(),
        shard: "finished runs".into(),
        outcomes,
    };
    finish(file, &args.out, None)
}

/// The same run given twice (one file under two names, or two copies of one history) would
/// make two rows of one run: refused, naming both.
fn refuse_twice(outcomes: &[Outcome]) -> Result<()> {
    for (b, later) in outcomes.iter().enumerate() {
        let text = later.record().to_text();
        if let Some(first) = outcomes[..b].iter().find(|o| o.record().to_text() == text) {
            let name = |o: &Outcome| o.source.clone().unwrap_or_default();
            return Err(Error::flag(
                "HISTORY",
                format!(
                    "{} and {} hold the same run; expected each run once",
                    name(first),
                    name(later)
                ),
            ));
        }
    }
    Ok(())
}

/// `compare merge` (and `sweep merge`).
pub fn run_merge(args: &MergeArgs) -> Result<()> {
    let read = |path: &PathBuf| -> Result<(String, CompareFile)> {
        Ok((path.display().to_string(), ledger::read(path)?))
    };
    prepare_outputs(&args.out)?;
    let merged = CompareFile::merge(args.files.iter().map(read).collect::<Result<_>>()?)?;
    let missing: Vec<usize> = merged.missing().iter().map(|i| i + 1).collect();
    if !missing.is_empty() {
        eprintln!("warning: runs {missing:?} are in none of the files; the table lacks them");
    }
    let data = match &args.source.data {
        Some(_) => Some(merge_data(&merged, &args.source)?),
        None => None,
    };
    if let (Some(d), Some(_)) = (&data, &args.out.report) {
        crate::report::gallery::check_grid("--gallery", args.out.gallery, (d.rows, d.cols))?;
    }
    finish(merged, &args.out, data.as_ref())
}

/// The data `--data` gives a merge, which must be the data the runs were scored on.
fn merge_data(merged: &CompareFile, source: &DataFlags) -> Result<Dataset> {
    let kind = DatasetKind::from_str(&merged.dataset, true).map_err(|_| {
        Error::Mismatch(format!(
            "the comparison's dataset '{}' is not one shaderfit knows",
            merged.dataset
        ))
    })?;
    let data = source.open(kind, None)?;
    let recorded = merged
        .defines
        .get("data")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match recorded.split(',').next() == Some(data.fingerprint().as_str()) {
        true => Ok(data),
        false => Err(Error::flag(
            "--data",
            format!(
                "{} is not the data the runs were scored on (its fingerprint differs)",
                data.dir.display()
            ),
        )),
    }
}

/// Prints the table and writes the JSON and the report asked for; `data` gives the report its
/// galleries.
fn finish(mut file: CompareFile, out: &CompareOutputs, data: Option<&Dataset>) -> Result<()> {
    compare::rank(&mut file.outcomes);
    let table = compare::table(&file.outcomes);
    print!("{table}");
    if let Some(path) = &out.json {
        output::replace(path, ledger::text(&file).as_bytes())?;
    }
    let Some(dir) = &out.report else {
        return Ok(());
    };
    let kind = DatasetKind::from_str(&file.dataset, true).unwrap_or(DatasetKind::Mnist);
    let epochs: Vec<usize> = file.outcomes.iter().map(|o| o.epochs()).collect();
    let most = epochs.iter().max().copied().unwrap_or(0);
    let up_to = if epochs.iter().all(|&e| e == most) {
        ""
    } else {
        "up to "
    };
    let input = CompareInput {
        title: format!(
            "{} on {}, {up_to}{}",
            counted(file.outcomes.len(), "run"),
            kind.name(),
            counted(most, "epoch")
        ),
        outcomes: &file.outcomes,
        table,
        dataset: kind,
        images: data.map(|d| TestImages {
            split: &d.test,
            image: d.image(),
            class_names: &d.class_names,
        }),
        gallery: out.gallery,
    };
    let page = crate::report::compare::write(dir, &input)?;
    eprintln!("report: {}", page.display());
    Ok(())
}

/// `n` and the noun, plural unless `n` is 1: `1 epoch`, `16 epochs`.
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
