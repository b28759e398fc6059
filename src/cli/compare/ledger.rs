//! A comparison's record of its finished runs, kept in its `--json` file as each run finishes,
//! so that an interrupted comparison loses no finished run: rerunning the same command (or
//! the same shard) trains only the runs the file lacks, and `compare merge` takes the file as
//! it is, naming what is missing. On SIGINT or SIGTERM the table of the runs that finished is
//! printed with how to go on, and the process exits with the signal's code (130, 143).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::output;
use crate::train::compare::{self, CompareFile, Outcome};

/// The outcomes so far, and where they are recorded.
pub struct Ledger {
    file: Mutex<CompareFile>,
    json: Option<PathBuf>,
    /// Runs this shard trains, finished or not.
    shard_runs: usize,
}

impl Ledger {
    /// The ledger of `fresh` (the comparison, with no outcome yet), whose shard has
    /// `shard_runs` runs: with the outcomes `json` already holds when it is this very
    /// comparison's and shard's record; an error naming `--json` when it holds another's.
    pub fn open(fresh: CompareFile, json: Option<&Path>, shard_runs: usize) -> Result<Ledger> {
        let mut file = fresh;
        if let Some(path) = json.filter(|p| p.is_file()) {
            let previous = read(path)?;
            // Its own record, which it goes on writing: not an input.
            crate::input::hand_over(path);
            let other = file.difference(&previous).or_else(|| {
                (previous.shard != file.shard)
                    .then(|| format!("its shard is {}, this run's {}", previous.shard, file.shard))
            });
            if let Some(why) = other {
                return Err(Error::flag(
                    "--json",
                    format!(
                        "{} holds another comparison's results ({why}); give another path, or remove it to start this comparison afresh",
                        path.display()
                    ),
                ));
            }
            file.outcomes = previous.outcomes;
        }
        Ok(Ledger {
            file: Mutex::new(file),
            json: json.map(Path::to_path_buf),
            shard_runs,
        })
    }

    /// Indices of the runs already finished.
    pub fn finished(&self) -> std::collections::HashSet<usize> {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.outcomes.iter().map(|o| o.run.index).collect()
    }

    /// Records a finished run, rewriting the `--json` file whole; returns how many runs of
    /// the shard have finished.
    pub fn add(&self, outcome: Outcome) -> Result<usize> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.outcomes.push(outcome);
        file.outcomes.sort_by_key(|o| o.run.index);
        if let Some(path) = &self.json {
            output::replace(path, text(&file).as_bytes())?;
            output::failpoint("compare-run-recorded");
        }
        Ok(file.outcomes.len())
    }

    /// The comparison with every outcome recorded, in the comparison's order.
    pub fn file(&self) -> CompareFile {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// On SIGINT or SIGTERM (Unix): the table of the runs that finished, how to go on, and
    /// the exit code of the signal. Nothing is left half written: the `--json` file is
    /// replaced whole under the same lock.
    pub fn exit_on_interrupt(self: &Arc<Ledger>) {
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
                return;
            };
            let ledger = self.clone();
            std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    ledger.report_interrupt();
                    std::process::exit(128 + signal);
                }
            });
        }
    }

    /// What an interrupt prints: the finished runs' table on stdout, on stderr what became of
    /// them and how to go on.
    fn report_interrupt(&self) {
        let file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let mut outcomes = file.outcomes.clone();
        compare::rank(&mut outcomes);
        if !outcomes.is_empty() {
            print!("{}", compare::table(&outcomes));
        }
        let done = format!("{} of {} runs finished", outcomes.len(), self.shard_runs);
        let next = match &self.json {
            Some(path) => format!(
                "they are recorded in {}; run the same command again to train only the missing ones",
                path.display()
            ),
            None => "nothing was recorded; give --json FILE to keep finished runs across an interrupt".into(),
        };
        eprintln!("interrupted: {done}; {next}");
    }
}

/// A comparison's JSON as `--json` writes it.
pub fn text(file: &CompareFile) -> String {
    serde_json::to_string_pretty(file).expect("a comparison serialises") + "\n"
}

/// The comparison `path` holds (written by `compare --json` or `sweep --json`).
/// Every run's history is checked as a history file's is.
pub fn read(path: &Path) -> Result<CompareFile> {
    let text = crate::input::read_to_string(path)?;
    let file: CompareFile = serde_json::from_str(&text).map_err(|e| {
        Error::file(
            path,
            format!("not a comparison's JSON ({e}); expected a file written by `compare --json` or `sweep --json`"),
        )
    })?;
    for o in &file.outcomes {
        o.history.check().map_err(|e| {
            let values = compare::show_values(&o.run.values);
            Error::file(path, format!("run {} ({values}): {e}", o.run.index + 1))
        })?;
    }
    Ok(file)
}
