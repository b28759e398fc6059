//! The GPU measurement script (`benches/gpu-session.sh`) works the first time on a borrowed
//! machine only if it works here: a dry run on this machine's adapter (`--allow-cpu
//! --dry-run`, a small dataset) runs every step, records each in `steps.txt`, brings every
//! output back in `raw.tar` and writes a summary with every section; without `--allow-cpu`
//! it refuses a CPU adapter. PyTorch's steps are skipped, saying so, where it is not
//! installed (as here).

mod support;

use std::process::Command;

use support::{synthetic_dataset, write_dataset, TempDir};

#[test]
fn the_gpu_session_script_runs_end_to_end_on_any_adapter() {
    let dir = TempDir::new("gpusession");
    let data = dir.path().join("mnist");
    write_dataset(&data, &synthetic_dataset(256, 64, 28, 28, 10), true);
    let out = dir.path().join("out");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/gpu-session.sh");
    let run = |extra: &[&str]| {
        let mut cmd = Command::new("bash");
        cmd.arg(script)
            .args([
                "--out",
                out.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ])
            .args(["--bin", env!("CARGO_BIN_EXE_shaderfit"), "--epochs", "2"])
            .args(extra);
        cmd.output().expect("bash runs the script")
    };
    let cpu = support::gpu().info.device_type == wgpu::DeviceType::Cpu;
    if cpu {
        let refused = run(&[]);
        assert_eq!(refused.status.code(), Some(3), "a CPU adapter is refused");
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("refusing to measure a CPU adapter"), "{err}");
    }
    let dry = run(&["--allow-cpu", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        stdout.contains("at most 425 s (7 min 5 s) by their timeouts"),
        "{stdout}"
    );
    let steps = std::fs::read_to_string(out.join("steps.txt")).unwrap();
    for step in ["devices", "plan", "bench", "mlp", "cnn", "fast99"] {
        assert!(
            steps.lines().any(|l| l.starts_with(&format!("{step}\tok"))),
            "{step}: {steps}"
        );
    }
    for step in ["torch_gemm", "torch_mlp", "torch_cnn", "torch_fast99"] {
        assert!(
            steps.lines().any(|l| l.starts_with(&format!("{step}\t"))),
            "{step}: {steps}"
        );
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for section in [
        "## Plan (bench --plan)",
        "## Square f32 GEMM",
        "## Seconds per epoch",
        "## fast99",
        "| mlp |",
        "| cnn |",
    ] {
        assert!(summary.contains(section), "{section}: {summary}");
    }
    let tar = Command::new("tar")
        .arg("tf")
        .arg(out.join("raw.tar"))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&tar.stdout);
    for file in [
        "plan.json",
        "bench.json",
        "mlp.history.json",
        "cnn.history.json",
        "fast99.txt",
    ] {
        assert!(listed.lines().any(|l| l == file), "{file}: {listed}");
    }
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(
        files.len() <= 8,
        "a borrowed machine gives back at most 8 files"
    );
}
