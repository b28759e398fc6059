//! The report's `index.html`: one static page, no scripts, with the figures (PNG, each linked
//! to its SVG), the history as a table (`history.history`), per-class metrics, the run's
//! settings and the model summary.

use super::{accuracy_of, ReportInput, Written};
use crate::eval::CountMatrix;

pub(crate) const STYLE: &str =
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;\
color:#222;padding:0 1em}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;\
border-bottom:1px solid #ddd}table{border-collapse:collapse;font-size:.9em}\
td,th{padding:.25em .8em;text-align:right;border-bottom:1px solid #eee}\
th:first-child,td:first-child{text-align:left}figure{margin:1em 0}\
figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:.9em}\
pre{background:#f6f6f6;padding:1em;overflow-x:auto}.score{font-size:1.2em}";

pub fn page(
    input: &ReportInput,
    counts: &CountMatrix,
    labels: &[String],
    figures: &[Written],
) -> String {
    let score = input.test.score();
    let logs: Vec<String> = input
        .test_logs
        .0
        .iter()
        .map(|(k, v)| format!("{}: {v:.4}", escape(k)))
        .collect();
    let mut body = format!(
        "<h1>shaderfit report: {}</h1>\n<p class=\"score\">{} ({} of {} test images \
         correct; the confusion matrix's diagonal: {:.4})</p>\n",
        escape(&input.title),
        logs.join(" &middot; "),
        score.correct,
        score.samples,
        accuracy_of(counts),
    );
    for f in figures {
        let file = |i: usize| {
            f.files[i]
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        body += &format!(
            "<h2>{}</h2>\n<figure><a href=\"{}\"><img src=\"{}\" alt=\"{}\"></a>\
             <figcaption>{} (<a href=\"{}\">SVG</a>)</figcaption></figure>\n",
            escape(&heading(f.name)),
            escape(&file(1)),
            escape(&file(0)),
            escape(&f.caption),
            escape(&f.caption),
            escape(&file(1)),
        );
        if f.name == "curves" {
            body += &history_table(input);
        }
        if f.name == "per_class" {
            body += &per_class_table(counts, labels);
        }
    }
    body += "<h2>Settings</h2>\n";
    body += &settings_table(input.settings);
    body += &format!("<h2>Model</h2>\n<pre>{}</pre>\n", escape(&input.summary));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>shaderfit report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(&input.title)
    )
}

fn heading(name: &str) -> String {
    match name {
        "curves" => "Training curves",
        "confusion" => "Confusion matrix",
        "correct" => "Correct predictions",
        "incorrect" => "Mistakes",
        "probabilities" => "One sample's probabilities",
        "per_class" => "Per-class metrics",
        "model" => "Model diagram",
        other => other,
    }
    .to_string()
}

/// `history.history` as a table, an epoch per row.
fn history_table(input: &ReportInput) -> String {
    let Some(history) = input.history else {
        return String::new();
    };
    let names = history.names();
    let columns: Vec<Vec<f64>> = names.iter().map(|n| history.column(n)).collect();
    let mut s = String::from("<table>\n<tr><th>epoch</th>");
    for n in &names {
        s += &format!("<th>{n}</th>");
    }
    s += "</tr>\n";
    for (row, epoch) in history.epoch.iter().enumerate() {
        s += &format!("<tr><td>{epoch}</td>");
        for (column, name) in columns.iter().zip(&names) {
            let v = column[row];
            let cell = match *name {
                "seconds" => format!("{v:.2}"),
                "learning_rate" => format!("{v:.3e}"),
                _ if v.is_nan() => "&ndash;".to_string(),
                _ => format!("{v:.4}"),
            };
            s += &format!("<td>{cell}</td>");
        }
        s += "</tr>\n";
    }
    s + "</table>\n"
}

/// scikit-learn's classification report as a table.
fn per_class_table(counts: &CountMatrix, labels: &[String]) -> String {
    let mut s = String::from(
        "<table>\n<tr><th>class</th><th>precision</th><th>recall</th><th>f1-score</th><th>support</th></tr>\n",
    );
    for (c, score) in counts.per_class().iter().enumerate() {
        s += &format!(
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>\n",
            escape(&labels[c]),
            score.precision,
            score.recall,
            score.f1,
            score.support
        );
    }
    s + "</table>\n"
}

fn settings_table(settings: &serde_json::Value) -> String {
    let mut s = String::from("<table>\n");
    if let Some(map) = settings.as_object() {
        for (k, v) in map {
            let value = match v {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            s += &format!(
                "<tr><td>{}</td><td>{}</td></tr>\n",
                escape(k),
                escape(&value)
            );
        }
    }
    s + "</table>\n"
}

/// Text as HTML: the five characters that could start markup or end an attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
