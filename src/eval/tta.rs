//! Test-time augmentation (`--tta N`): each test image's class probabilities averaged over the
//! image itself and `N - 1` randomly augmented copies of it. The copies are drawn by the
//! gather kernel as training's are, each copy from a seed of its own, so a copy is one more
//! forward pass over the resident test split ([`super::Evaluator::tta`]); each pass's
//! probabilities are read back once and averaged here, and the averaged prediction is scored
//! on the CPU.

use super::metrics::{CountMatrix, Probabilities, Score};
use crate::error::{Error, Result};
use crate::floor::augment::Augment;

/// The most copies `--tta` takes: past a few dozen, more passes change nothing measurable.
pub const MAX_COPIES: usize = 64;

/// How many views of each test image are averaged, and the augmentation of all but the first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tta {
    /// Views per image, the plain one included (1: no augmentation).
    pub copies: usize,
    pub augment: Augment,
}

impl Tta {
    /// `copies` views with `augment`'s transforms, checked: `--tta` names the flag.
    pub fn new(copies: usize, augment: Option<Augment>) -> Result<Tta> {
        if !(1..=MAX_COPIES).contains(&copies) {
            return Err(Error::flag(
                "--tta",
                format!("{copies}; expected 1 to {MAX_COPIES} views per test image"),
            ));
        }
        let augment = augment.filter(Augment::is_active);
        match augment {
            Some(augment) => Ok(Tta { copies, augment }),
            None if copies == 1 => Ok(Tta {
                copies,
                augment: Augment::default(),
            }),
            None => Err(Error::flag(
                "--tta",
                format!(
                    "{copies} views need an augmentation to draw the copies with; expected --tta-augment SPEC such as shift=1,rotate=5 (train also takes --augment's)"
                ),
            )),
        }
    }
}

/// The averaged probabilities of a TTA evaluation, and their score.
#[derive(Clone, Debug, PartialEq)]
pub struct TtaResult {
    pub copies: usize,
    pub probabilities: Probabilities,
    pub score: Score,
    /// True class down, predicted across.
    pub confusion: CountMatrix,
}

/// Adds `views` (each `[samples, classes]`) and divides by their number.
pub fn mean(views: &[Probabilities]) -> Probabilities {
    let first = &views[0];
    let mut values = vec![0.0f64; first.values.len()];
    for view in views {
        for (sum, &p) in values.iter_mut().zip(&view.values) {
            *sum += p as f64;
        }
    }
    let n = views.len() as f64;
    Probabilities {
        classes: first.classes,
        values: values.into_iter().map(|s| (s / n) as f32).collect(),
    }
}

/// Scores probabilities against `labels` as the loss kernel scores logits: the accuracy
/// counts the first most probable class, the loss is Keras's categorical cross-entropy of the
/// probabilities (clipped to [1e-7, 1 - 1e-7]) against the smoothed targets.
pub fn score(probs: &Probabilities, labels: &[u8], smoothing: f32) -> (Score, CountMatrix) {
    let classes = probs.classes;
    let mut confusion = CountMatrix {
        rows: classes,
        cols: classes,
        counts: vec![0; classes * classes],
    };
    let (mut loss_sum, mut correct) = (0.0f64, 0u32);
    let off = smoothing as f64 / classes as f64;
    for (i, &label) in labels.iter().enumerate() {
        let (predicted, _) = probs.predicted(i);
        let label = label as usize;
        confusion.counts[label * classes + predicted] += 1;
        correct += (predicted == label) as u32;
        for (c, &p) in probs.row(i).iter().enumerate() {
            let target = off
                + if c == label {
                    1.0 - smoothing as f64
                } else {
                    0.0
                };
            loss_sum -= target * (p as f64).clamp(1e-7, 1.0 - 1e-7).ln();
        }
    }
    let samples = labels.len() as u32;
    let score = Score {
        loss: loss_sum / samples.max(1) as f64,
        accuracy: correct as f64 / samples.max(1) as f64,
        samples,
        correct,
        loss_sum: loss_sum as f32,
        first_bad_step: None,
    };
    (score, confusion)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(values: &[f32]) -> Probabilities {
        Probabilities {
            classes: 2,
            values: values.to_vec(),
        }
    }

    /// Two views that disagree on sample 0: their mean decides it. Exact: halves of sums of
    /// values exact in f32.
    #[test]
    fn the_mean_of_views_decides() {
        let a = probs(&[0.75, 0.25, 0.5, 0.5]);
        let b = probs(&[0.25, 0.75, 0.0, 1.0]);
        let m = mean(&[a, b.clone()]);
        assert_eq!(m.values, vec![0.5, 0.5, 0.25, 0.75]);
        let (score, confusion) = score(&b, &[1, 0], 0.0);
        assert_eq!((score.correct, score.samples), (1, 2));
        assert_eq!(confusion.counts, vec![0, 1, 0, 1]);
        // Sample 0: -ln 0.75; sample 1: -ln(1e-7), the clip.
        let want = (-(0.75f64.ln()) - (1e-7f64).ln()) / 2.0;
        assert!((score.loss - want).abs() < 1e-9, "{} vs {want}", score.loss);
    }

    /// Label smoothing 0.2 over 2 classes: targets 0.9 and 0.1.
    #[test]
    fn the_loss_uses_the_smoothed_targets() {
        let (score, _) = score(&probs(&[0.5, 0.5]), &[0], 0.2);
        let want = -(0.9 * 0.5f64.ln() + 0.1 * 0.5f64.ln());
        assert!((score.loss - want).abs() < 1e-9);
    }

    #[test]
    fn copies_need_an_augmentation_and_a_range() {
        let shift = Some(Augment {
            shift: 2.0,
            ..Default::default()
        });
        assert!(Tta::new(4, shift).is_ok());
        assert!(Tta::new(1, None).is_ok());
        let none = Tta::new(4, None).unwrap_err().to_string();
        assert!(none.contains("--tta-augment"), "{none}");
        let zero = Tta::new(0, shift).unwrap_err().to_string();
        assert!(zero.contains("--tta") && zero.contains("0;"), "{zero}");
    }
}
