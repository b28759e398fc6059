//! The README's Slurm job array on a real scheduler: a one-node Slurm cluster started in a
//! temporary directory (`tests/slurm/cluster.sh`: Debian's `slurm-wlm` and `munge`), the
//! README's script (`scripts/slurm-compare.sh`) submitted for a small `compare` grid as an
//! array of 3 tasks, and `compare merge` of their files, which must give the table the
//! unsharded comparison prints (same seed, same runs; the seconds aside). Skips where Slurm
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

#[test]
fn the_readme_job_array_runs_on_slurm_and_merges_to_the_unsharded_table() {
    let data = small_dataset("slurm");
    let Some(cluster) = start_cluster(&data.path().join("cluster")) else {
        return;
    };
    let results = data.path().join("results");
    std::fs::create_dir_all(&results).unwrap();
    // --wait: sbatch returns when every task has ended, with the highest exit code of them.
    let submitted = Command::new("sbatch")
        .args(["--array=0-2", "--time=5", "--wait", "--parsable", SCRIPT])
        .args(GRID)
        .current_dir(&results)
        .env("SLURM_CONF", cluster.0.join("slurm.conf"))
        .env("SHADERFIT", env!("CARGO_BIN_EXE_shaderfit"))
        .env("SHADERFIT_DATA", data.path())
        .output()
        .expect("run sbatch");
    let job = String::from_utf8_lossy(&submitted.stdout)
        .trim()
        .to_string();
    let logs: String = (0..3)
        .map(|t| {
            let log = results.join(format!("compare-{job}_{t}.log"));
            format!(
                "task {t}: {}\n",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .collect();
    assert!(submitted.status.success(), "{}\n{logs}", text(&submitted));
    println!("job {job} ended; its tasks' logs:\n{logs}");

    let shards: Vec<PathBuf> = (0..3)
        .map(|t| results.join(format!("compare-{job}-{t}.json")))
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
