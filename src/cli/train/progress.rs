//! What `train` shows while it runs: Keras's progress bar and its line per epoch.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::Result;
use crate::train::{Callback, Control, EpochReport, FitHandle, Phase, Progress};

/// A progress bar per epoch, as Keras's `verbose=1`: steps, ETA and the running loss and
/// accuracy while training, then a bar of its own while validating. Drawn only when stderr is
/// a terminal, and cleared before the epoch's line.
pub struct EpochBar {
    epochs: usize,
    epoch: usize,
    phase: Phase,
    bar: Option<ProgressBar>,
}

impl EpochBar {
    pub fn new(epochs: usize) -> EpochBar {
        EpochBar {
            epochs,
            epoch: 0,
            phase: Phase::Training,
            bar: None,
        }
    }

    fn start(&mut self, phase: Phase, steps: usize) {
        if let Some(old) = self.bar.take() {
            old.finish_and_clear();
        }
        let (label, tail) = match phase {
            Phase::Training => ("", "{elapsed} (ETA {eta}){msg}"),
            Phase::Validating => (" validating", "{elapsed}{msg}"),
        };
        let template = format!("Epoch {{prefix}}{label} {{pos}}/{{len}} [{{bar:30}}] {tail}");
        let bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template(&template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", self.epoch, self.epochs));
        self.phase = phase;
        self.bar = Some(bar);
    }
}

impl Callback for EpochBar {
    fn on_epoch_begin(&mut self, epoch: usize, steps: usize) {
        self.epoch = epoch;
        self.start(Phase::Training, steps);
    }

    fn on_progress(&mut self, progress: &Progress) {
        if progress.phase != self.phase {
            self.start(progress.phase, progress.total);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(progress.done as u64);
            if let Some(running) = &progress.running {
                bar.set_message(format!(" - {}", running.logs.line()));
            }
        }
    }

    fn on_epoch_end(&mut self, _: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        debug_assert_eq!(report.epochs, self.epochs);
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        Ok(Control::Continue)
    }
}

impl Drop for EpochBar {
    /// A run that fails mid-epoch leaves no bar behind its error line.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Keras's line per epoch on stdout, flushed as the epoch ends: an interrupted run keeps every
/// finished epoch's line.
pub struct EpochLines;

impl Callback for EpochLines {
    /// Notes (ReduceLROnPlateau's) go to stderr with the other information.
    fn on_note(&mut self, note: &str) {
        eprintln!("{note}");
    }

    fn on_epoch_end(&mut self, _: &mut dyn FitHandle, report: &EpochReport) -> Result<Control> {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", report.line());
        let _ = out.flush();
        Ok(Control::Continue)
    }
}
