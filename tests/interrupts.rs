//! A comparison loses no finished run to an interrupt: each is recorded in its `--json` file as
//! it finishes; a comparison killed midway and run again trains only what is missing and ends
//! with the table of one never interrupted; SIGINT prints the table of what finished and how to
//! go on; a `--json` file of another comparison is never taken for this one's.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::cli::{arg, finished, shaderfit, small_dataset, table_without_seconds, Shaderfit};

/// Four runs of two models at two learning rates, one epoch each, recorded in `json`.
fn comparison(data: &support::TempDir, json: &Path) -> Shaderfit {
    let args = [
        "compare",
        "--models",
        "linear,mlp_small",
        "--lrs",
        "0.01,0.1",
        "--epochs",
        "1",
        "--json",
        arg(json),
    ];
    shaderfit(&args).data(data)
}

fn outcomes(json: &Path) -> usize {
    let text = std::fs::read_to_string(json).unwrap_or_default();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    file["outcomes"].as_array().map_or(0, Vec::len)
}

/// Killed right after its second run is recorded (a failpoint aborts the process there, as a
/// kill would), the comparison keeps those two in its JSON; run again, it trains the other two
/// only, and its table is the uninterrupted comparison's (but the seconds).
#[test]
fn a_killed_comparison_run_again_trains_only_what_is_missing() {
    let data = small_dataset("cmpkill");
    let whole = comparison(&data, &data.path().join("whole.json")).run();
    let json = data.path().join("part.json");
    let killed = comparison(&data, &json)
        .env("SHADERFIT_FAILPOINT", "compare-run-recorded@2")
        .run();
    assert_eq!(killed.code, None, "stopped: {}", killed.stderr);
    assert_eq!(outcomes(&json), 2, "two runs recorded before the kill");
    let again = comparison(&data, &json).run();
    assert!(
        again
            .ok()
            .stderr
            .contains("compare: 2 of 4 runs (shard 0/1) (2 already finished"),
        "{}",
        again.stderr
    );
    assert_eq!(
        again.stderr.matches("] ").count(),
        2,
        "two runs trained: {}",
        again.stderr
    );
    assert_eq!(
        table_without_seconds(&again.stdout),
        table_without_seconds(&whole.ok().stdout)
    );
    assert_eq!(outcomes(&json), 4);
}

/// SIGINT after the first run has finished: exit code 130, the table of the finished runs on
/// stdout, and on stderr where they are and how to go on.
#[test]
fn an_interrupted_comparison_prints_what_finished_and_how_to_go_on() {
    let data = small_dataset("cmpint");
    let json = data.path().join("c.json");
    let child = comparison(&data, &json).spawn_piped();
    let start = Instant::now();
    while outcomes(&json) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no run finished"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -INT");
    let run = finished(child);
    let recorded = outcomes(&json);
    if recorded == 4 {
        // The comparison ended before the signal came: nothing to interrupt.
        run.ok();
        return;
    }
    assert_eq!(run.code, Some(130), "{}", run.stderr);
    let line = run.stderr.lines().last().unwrap();
    assert!(
        line.starts_with(&format!(
            "interrupted: {recorded} of 4 runs finished; they are recorded in "
        )) && line.ends_with("run the same command again to train only the missing ones"),
        "{line}"
    );
    assert_eq!(run.stdout.lines().count(), 1 + recorded, "{}", run.stdout);
}

/// A `--json` file holding another comparison's results is refused, naming what differs; it
/// is never extended with this one's runs.
#[test]
fn a_json_file_of_another_comparison_is_refused() {
    let data = small_dataset("cmpother");
    let json = data.path().join("c.json");
    let args = [
        "compare", "--models", "linear", "--lrs", "0.1,0.2", "--epochs", "1",
    ];
    shaderfit(&args)
        .data(&data)
        .args(&["--json", arg(&json)])
        .run()
        .ok();
    let before = std::fs::read(&json).unwrap();
    let other = [
        "compare", "--models", "linear", "--lrs", "0.1,0.3", "--epochs", "1",
    ];
    shaderfit(&other)
        .data(&data)
        .args(&["--json", arg(&json)])
        .run()
        .one_line_error(&["--json", "holds another comparison's results", "its lrs is"]);
    assert_eq!(std::fs::read(&json).unwrap(), before);
}
