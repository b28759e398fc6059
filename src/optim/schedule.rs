//! Learning-rate schedules, per step, in f64: the trainer evaluates one for every step of an
//! epoch when the epoch begins and uploads the rates with the shuffle order, so a schedule
//! costs no CPU-GPU round trip per step. Keras's formulas (`keras.optimizers.schedules`),
//! PyTorch's for one-cycle, and a linear warm-up before any of them.

use std::f64::consts::PI;

use crate::error::Result;
use crate::settings::{settings, Settings};

/// How the learning rate moves, as a multiple of the optimizer's (the base).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay {
    Constant,
    /// Keras's `ExponentialDecay(staircase=True)`: times `rate` every `every` steps.
    Step {
        rate: f64,
        every: u64,
    },
    /// Keras's `ExponentialDecay`: times `rate^(step / every)`, continuously.
    Exponential {
        rate: f64,
        every: u64,
    },
    /// Keras's `CosineDecay` over the steps after warm-up, down to `floor` (its `alpha`).
    Cosine {
        floor: f64,
    },
    /// PyTorch's `OneCycleLR` (cosine annealing): from base/25 up to the base over the first
    /// 30% of the steps, then down to base/25/1e4.
    OneCycle,
}

/// A decay after `warmup` steps of linear warm-up, over a run of `total` steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub decay: Decay,
    pub warmup: u64,
    pub total: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            decay: Decay::Constant,
            warmup: 0,
            total: 0,
        }
    }
}

/// The names `--lr-schedule` takes.
pub const NAMES: [&str; 5] = ["constant", "step", "exponential", "cosine", "one-cycle"];

impl Schedule {
    /// The learning rate of step `step` (from 0, over the whole run) for base rate `base`.
    pub fn learning_rate(&self, base: f64, step: u64) -> f64 {
        if step < self.warmup {
            // Linear from base/warmup at the first step to the base at the last of warm-up.
            return base * (step + 1) as f64 / self.warmup as f64;
        }
        let s = step - self.warmup;
        let after = self.total.saturating_sub(self.warmup).max(1);
        base * match self.decay {
            Decay::Constant => 1.0,
            Decay::Step { rate, every } => rate.powi((s / every.max(1)) as i32),
            Decay::Exponential { rate, every } => rate.powf(s as f64 / every.max(1) as f64),
            Decay::Cosine { floor } => {
                let progress = (s as f64 / after as f64).min(1.0);
                (1.0 - floor) * 0.5 * (1.0 + (PI * progress).cos()) + floor
            }
            Decay::OneCycle => one_cycle(s, after),
        }
    }

    /// Whether the rate ever changes (ReduceLROnPlateau needs a constant one, as in Keras).
    pub fn is_constant(&self) -> bool {
        self.decay == Decay::Constant && self.warmup == 0
    }

    /// What it is, for the setup line and the history's settings.
    pub fn describe(&self) -> String {
        let decay = match self.decay {
            Decay::Constant => "constant".to_string(),
            Decay::Step { rate, every } => format!("step(rate={rate}, every={every} steps)"),
            Decay::Exponential { rate, every } => {
                format!("exponential(rate={rate}, every={every} steps)")
            }
            Decay::Cosine { floor } => format!("cosine(floor={floor})"),
            Decay::OneCycle => "one-cycle(start=base/25, peak at 30%, end=base/2.5e5)".into(),
        };
        if self.warmup > 0 {
            format!("{decay} after {} warm-up steps", self.warmup)
        } else {
            decay
        }
    }
}

/// PyTorch's OneCycleLR with its defaults (`pct_start=0.3`, `div_factor=25`,
/// `final_div_factor=1e4`, cosine annealing), as a multiple of the peak.
fn one_cycle(step: u64, total: u64) -> f64 {
    let initial = 1.0 / 25.0;
    let last = initial / 1e4;
    let up = (0.3 * total as f64 - 1.0).max(1.0);
    let down = (total as f64 - 1.0 - up).max(1.0);
    let cos =
        |from: f64, to: f64, pct: f64| to + (from - to) / 2.0 * (1.0 + (PI * pct.min(1.0)).cos());
    let s = step as f64;
    if s <= up {
        cos(initial, 1.0, s / up)
    } else {
        cos(1.0, last, (s - up) / down)
    }
}

settings! {
    /// The learning-rate schedule's settings, before the run's length is known.
    pub struct ScheduleSettings {
        /// Learning-rate schedule, per step: constant, step (times --decay-rate every
        /// --decay-epochs), exponential (the same, continuously), cosine (down to --lr-floor of
        /// the rate at the last step), one-cycle (PyTorch's OneCycleLR with the rate as its
        /// peak).
        #[arg(long, default_value = "constant", value_name = "NAME")]
        pub lr_schedule: String [check = known],
        /// Step and exponential decay's factor.
        #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
        pub decay_rate: f64 [check = |v: &f64| expect(*v, *v > 0.0 && *v <= 1.0, "a factor in (0, 1]")],
        /// Step and exponential decay's period, in epochs (fractions allowed).
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        pub decay_epochs: f64 [check = |v: &f64| expect(*v, *v > 0.0, "a positive number of epochs")],
        /// Cosine decay's final rate, as a fraction of the initial (Keras's alpha).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        pub lr_floor: f64 [check = |v: &f64| expect(*v, (0.0..=1.0).contains(v), "a fraction in [0, 1]")],
        /// Raise the rate linearly from near 0 over this many epochs first (fractions allowed).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        pub warmup_epochs: f64 [check = |v: &f64| expect(*v, *v >= 0.0, "a number of epochs >= 0")],
    }
}

/// `v`, finite and `ok`, or what was expected.
fn expect(v: f64, ok: bool, want: &str) -> std::result::Result<(), String> {
    match v.is_finite() && ok {
        true => Ok(()),
        false => Err(format!("{v}; expected {want}")),
    }
}

fn known(name: &String) -> std::result::Result<(), String> {
    match NAMES.contains(&name.as_str()) {
        true => Ok(()),
        false => Err(format!(
            "unknown schedule '{name}'{}; expected one of {}",
            crate::floor::did_you_mean(name, &NAMES),
            NAMES.join(", ")
        )),
    }
}

impl ScheduleSettings {
    /// Refuses a setting the schedule named does not use (`--decay-rate` with the constant
    /// schedule) when it differs from its default: it would be ignored.
    pub fn check_uses(&self) -> Result<()> {
        let d = ScheduleSettings::default();
        let unused: [(&'static str, bool, &str); 3] = [
            (
                "--decay-rate",
                self.decay_rate != d.decay_rate,
                "step and exponential schedules",
            ),
            (
                "--decay-epochs",
                self.decay_epochs != d.decay_epochs,
                "step and exponential schedules",
            ),
            ("--lr-floor", self.lr_floor != d.lr_floor, "cosine schedule"),
        ];
        let uses = |by: &str| {
            let names = by.rsplit_once(' ').map_or(by, |(names, _)| names);
            names.split(" and ").any(|s| s == self.lr_schedule)
        };
        match unused.into_iter().find(|(_, set, by)| *set && !uses(by)) {
            None => Ok(()),
            Some((flag, _, by)) => Err(crate::error::Error::flag(
                flag,
                format!(
                    "applies to the {by} only; the schedule is '{}' (--lr-schedule)",
                    self.lr_schedule
                ),
            )),
        }
    }

    /// Whether a schedule is asked for at all (ReduceLROnPlateau needs none, as in Keras).
    pub fn is_constant(&self) -> bool {
        self.lr_schedule == "constant" && self.warmup_epochs == 0.0
    }

    /// The schedule of a run of `epochs` epochs of `steps` steps; errors name the flag.
    pub fn build(&self, epochs: usize, steps: usize) -> Result<Schedule> {
        self.check_ranges()?;
        let in_steps = |epochs: f64| (epochs * steps as f64).round() as u64;
        let every = in_steps(self.decay_epochs).max(1);
        let rate = self.decay_rate;
        let decay = match self.lr_schedule.as_str() {
            "step" => Decay::Step { rate, every },
            "exponential" => Decay::Exponential { rate, every },
            "cosine" => Decay::Cosine {
                floor: self.lr_floor,
            },
            "one-cycle" => Decay::OneCycle,
            _ => Decay::Constant,
        };
        Ok(Schedule {
            decay,
            warmup: in_steps(self.warmup_epochs),
            total: (epochs * steps) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(decay: Decay, warmup: u64, total: u64) -> Schedule {
        Schedule {
            decay,
            warmup,
            total,
        }
    }

    #[test]
    fn keras_formulas() {
        let step = schedule(
            Decay::Step {
                rate: 0.5,
                every: 10,
            },
            0,
            100,
        );
        assert_eq!(step.learning_rate(0.1, 9), 0.1);
        assert_eq!(step.learning_rate(0.1, 10), 0.05);
        assert_eq!(step.learning_rate(0.1, 25), 0.025);
        let exp = schedule(
            Decay::Exponential {
                rate: 0.5,
                every: 10,
            },
            0,
            100,
        );
        assert!((exp.learning_rate(0.1, 5) - 0.1 * 0.5f64.sqrt()).abs() < 1e-15);
        let cos = schedule(Decay::Cosine { floor: 0.1 }, 0, 100);
        assert_eq!(cos.learning_rate(1.0, 0), 1.0);
        assert!((cos.learning_rate(1.0, 50) - 0.55).abs() < 1e-12);
        assert!((cos.learning_rate(1.0, 100) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn warm_up_is_linear_then_the_decay_starts_from_the_base() {
        let s = schedule(Decay::Cosine { floor: 0.0 }, 4, 104);
        let lrs: Vec<f64> = (0..5).map(|i| s.learning_rate(2.0, i)).collect();
        assert_eq!(lrs, [0.5, 1.0, 1.5, 2.0, 2.0]);
        assert!(s.learning_rate(2.0, 103) < 1e-3);
    }

    /// PyTorch's OneCycleLR(max_lr=1, total_steps=100): 0.04 at the start, the peak at step
    /// 29, 4e-6 at the last step.
    #[test]
    fn one_cycle_matches_pytorch() {
        let s = schedule(Decay::OneCycle, 0, 100);
        assert!((s.learning_rate(1.0, 0) - 0.04).abs() < 1e-12);
        assert!((s.learning_rate(1.0, 29) - 1.0).abs() < 1e-12);
        assert!((s.learning_rate(1.0, 99) - 4e-6).abs() < 1e-12);
        assert!(s.learning_rate(1.0, 60) < s.learning_rate(1.0, 40));
    }

    #[test]
    fn flags_are_checked() {
        let flags = |name: &str, rate: f64| ScheduleSettings {
            lr_schedule: name.into(),
            decay_rate: rate,
            decay_epochs: 1.0,
            lr_floor: 0.0,
            warmup_epochs: 0.5,
        };
        let s = flags("step", 0.5).build(3, 10).unwrap();
        assert_eq!(
            s,
            schedule(
                Decay::Step {
                    rate: 0.5,
                    every: 10
                },
                5,
                30
            )
        );
        let err = flags("step", 2.0).build(3, 10).unwrap_err().to_string();
        assert!(
            err.contains("--decay-rate") && err.contains("(0, 1]"),
            "{err}"
        );
        let err = flags("linear", 0.5).build(3, 10).unwrap_err().to_string();
        assert!(
            err.contains("unknown schedule 'linear'") && err.contains("one-cycle"),
            "{err}"
        );
    }
}
