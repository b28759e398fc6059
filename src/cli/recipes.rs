//! `shaderfit recipes`: every recipe `train --recipe` takes, one block each.

use crate::error::Result;
use crate::recipes;

pub fn run() -> Result<()> {
    for r in recipes::all() {
        println!("{}", r.name);
        println!("    {}", r.description);
        let mut settings = vec![
            format!("model {}", r.model),
            r.optimizer_phrase(),
            format!("batch {}", r.batch_size.unwrap_or(128)),
            match r.epochs.unwrap_or(5) {
                1 => "1 epoch".to_string(),
                n => format!("{n} epochs"),
            },
        ];
        if let Some(d) = &r.dataset {
            settings.insert(1, d.clone());
        }
        if let Some(s) = &r.lr_schedule {
            settings.push(format!("{s} schedule"));
        }
        if let Some(v) = r.validation_split.filter(|v| *v > 0.0) {
            settings.push(format!("validation split {v}"));
        }
        if let Some(a) = &r.augment {
            settings.push(format!("augment {a}"));
        }
        if let Some(s) = r.label_smoothing.filter(|s| *s > 0.0) {
            settings.push(format!("label smoothing {s}"));
        }
        if let Some(n) = r.tta.filter(|n| *n > 1) {
            let spec = r
                .tta_augment
                .as_deref()
                .or(r.augment.as_deref())
                .unwrap_or("");
            settings.push(format!("test-time augmentation {n} views {spec}"));
        }
        println!("    {}", settings.join(", "));
        if let Some(n) = &r.notebook {
            println!("    the notebook reported: {n}");
        }
    }
    Ok(())
}
