//! Helpers for messages that name what was meant.

/// ` (did you mean 'mlp'?)` when a candidate is a few edits from `name` (for unknown presets,
/// optimizers, layer types, schedules and metrics), else nothing.
pub fn did_you_mean(name: &str, candidates: &[&str]) -> String {
    let best = candidates
        .iter()
        .map(|c| (edit_distance(&name.to_lowercase(), c), *c))
        .min();
    match best {
        Some((d, c)) if d > 0 && d <= (c.len() / 3).max(2) => format!(" (did you mean '{c}'?)"),
        _ => String::new(),
    }
}

/// Levenshtein distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
