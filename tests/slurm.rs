//! The README's Slurm job array on a real scheduler: a one-node Slurm cluster started in a
//! temporary directory (`tests/slurm/cluster.sh`: Debian's `slurm-wlm` and `munge`), the
//! README's script (`scripts/slurm-compare.sh`) submitted for a small `compare` grid as a
//! stepped array of 3 tasks (`--array=0-4:2`) whose every task is killed after its first run,
//! the one shard that lacks a run submitted again alone (`SHADERFIT_SHARDS=3 --array=0`),
//! which trains only that run, and `compare merge` of the shards' files, which must give the
//! table the unsharded comparison prints (same seed, same runs; the seconds aside). A listed
//! array without `SHADERFIT_SHARDS` is refused by every task, saying why. Skips where Slurm
//! is missing or cannot run (not root), saying what to install; `SHADERFIT_REQUIRE_TOOLS=1`
//! (CI) makes that a failure.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::cli::{arg, shaderfit, small_dataset, table_without_seconds};

const CLUSTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/slurm/cluster.sh");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/slurm-compare.sh");

/// The grid: 2 models x 2 learning rates = 4 runs over 3 shards (one shard holds two).
const GRID: [&str; 6] = [
    "--models",
    "linear,mlp_small",
    "--lrs",
    "0.01,0.1",
    "--epochs",
    "1",
];

/// Stops the cluster when the test ends, passed or not.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(CLUSTER)
            .arg("down")
            .arg(&self.0)
            .output();
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The cluster in `dir`, or none (after saying why) where Slurm cannot run here.
fn start_cluster(dir: &Path) -> Option<Cluster> {
    let up = Command::new("bash")
        .arg(CLUSTER)
        .arg("up")
        .arg(dir)
        .output()
        .expect("run bash");
    let said = text(&up);
    if up.status.code() == Some(2) {
        let required = std::env::var_os("SHADERFIT_REQUIRE_TOOLS").is_some_and(|v| v == "1");
        assert!(!required, "SHADERFIT_REQUIRE_TOOLS=1 but {said}");
        println!("skipped the Slurm test: {said}");
        return None;
    }
    assert!(up.status.success(), "the cluster did not start: {said}");
    Some(Cluster(dir.to_path_buf()))
}

/// Submits the script as an array (`array`, e.g. `0-4:2`) with `env` beside the cluster's,
/// waits for every task, and returns sbatch's output and the tasks' logs (by task id).
fn submit(
    cluster: &Cluster,
    (data, results): (&Path, &Path),
    array: &str,
    env: &[(&str, &str)],
) -> (Output, String) {
    // --wait: sbatch returns when every task has ended, with the highest exit code of them.
    let submitted = Command::new("sbatch")
        .args([
            &format!("--array={array}"),
            "--time=5",
            "--wait",
            "--parsable",
            SCRIPT,
        ])
        .args(GRID)
        .current_dir(results)
        .env("SLURM_CONF", cluster.0.join("slurm.conf"))
        .env("SHADERFIT", env!("CARGO_BIN_EXE_shaderfit"))
        .env("SHADERFIT_DATA", data)
        .envs(env.iter().copied())
        .output()
        .expect("run sbatch");
    let job = String::from_utf8_lossy(&submitted.stdout)
        .trim()
        .to_string();
    let mut logs = String::new();
    for entry in std::fs::read_dir(results).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("compare-{job}_")) && name.ends_with(".log") {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            logs += &format!("{name}: {text}\n");
        }
    }
    (submitted, logs)
}

#[test]
fn the_readme_job_array_runs_on_slurm_and_merges_to_the_unsharded_table() {
    let data = small_dataset("slurm");
    let Some(cluster) = start_cluster(&data.path().join("cluster")) else {
        return;
    };
    let results = data.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    let places = (data.path(), results.as_path());
    // Task ids 0, 2 and 4 are shards 0, 1 and 2 of 3; each is killed right after recording its
    // first run, as a node lost or a time limit would end it: shard 0 (runs 1 and 4) lacks one.
    let killed = [("SHADERFIT_FAILPOINT", "compare-run-recorded@1")];
    let (first, logs) = submit(&cluster, places, "0-4:2", &killed);
    assert!(!first.status.success(), "every task was killed: {logs}");
    println!("stepped array, killed:\n{logs}");
    let (again, logs) = submit(&cluster, places, "0", &[("SHADERFIT_SHARDS", "3")]);
    assert!(again.status.success(), "{}\n{logs}", text(&again));
    assert!(
        logs.contains("compare: 1 of 4 runs (shard 0/3) (1 already finished"),
        "{logs}"
    );
    println!("shard 0 again:\n{logs}");
    let (listed, logs) = submit(&cluster, places, "1,3", &[]);
    assert!(!listed.status.success(), "{logs}");
    assert!(
        logs.contains("set SHADERFIT_SHARDS to the number of shards"),
        "{logs}"
    );

    let shards: Vec<PathBuf> = (0..3)
        .map(|k| results.join(format!("compare-{k}-of-3.json")))
        .collect();
    let mut merge = vec!["compare", "merge"];
    merge.extend(shards.iter().map(|p| arg(p)));
    let merged = shaderfit(&merge).run();
    let whole = shaderfit(&[&["compare"][..], &GRID].concat())
        .data(&data)
        .run();
    println!("merged:\n{}unsharded:\n{}", merged.stdout, whole.stdout);
    assert_eq!(merged.ok().lines().len(), 5, "4 runs and a header");
    assert_eq!(
        table_without_seconds(&merged.stdout),
        table_without_seconds(&whole.ok().stdout)
    );
}
