//! Runs of the `shaderfit` binary for end-to-end tests, so that a new one reads as a few lines:
//!
//! ```ignore
//! let data = small_dataset("tag");
//! let run = shaderfit(&["train", "--model", "linear", "--epochs", "1"]).data(&data).run();
//! assert!(run.ok().last_field("test_accuracy") > 0.8);
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{synthetic_dataset, write_dataset, TempDir};

/// A command line to run; its environment holds no dataset or adapter choice of the user's.
pub struct Shaderfit {
    args: Vec<String>,
    data: Option<PathBuf>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

pub fn shaderfit(args: &[&str]) -> Shaderfit {
    Shaderfit {
        args: args.iter().map(|s| s.to_string()).collect(),
        data: None,
        env: Vec::new(),
        cwd: None,
    }
}

impl Shaderfit {
    /// Finds its data through `SHADERFIT_DATA` (a directory holding `mnist/`).
    pub fn data(mut self, dir: &TempDir) -> Shaderfit {
        self.data = Some(dir.path().to_path_buf());
        self
    }

    /// Runs in `dir` (where `./data/<dataset>` is looked for).
    pub fn cwd(mut self, dir: &Path) -> Shaderfit {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// More arguments after those given.
    pub fn args(mut self, more: &[&str]) -> Shaderfit {
        self.args.extend(more.iter().map(|s| s.to_string()));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Shaderfit {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn run(self) -> Run {
        let out = self.command().output().expect("run shaderfit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The run's adapter line names the test's backend (see `support::named`).
        if let Some(adapter) = stderr.lines().find(|l| l.starts_with("adapter: ")) {
            super::record_adapter(adapter);
        }
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts the run without waiting for it (its output discarded), e.g. to kill it.
    pub fn spawn(self) -> std::process::Child {
        self.command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start shaderfit")
    }

    /// Starts the run without waiting for it, its output kept for [`finished`] (e.g. to send
    /// it a signal).
    pub fn spawn_piped(self) -> std::process::Child {
        self.command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start shaderfit")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shaderfit"));
        cmd.args(&self.args)
            .env_remove("SHADERFIT_DATA")
            .env_remove("WGPU_ADAPTER_NAME");
        if let Some(dir) = &self.data {
            cmd.env("SHADERFIT_DATA", dir);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// How a run started with [`Shaderfit::spawn_piped`] ended, and what it printed.
pub fn finished(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("wait for shaderfit");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What a run printed and how it ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts a successful exit (showing stderr otherwise).
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        self
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Field `name` of the last stdout line (`test_loss: 0.07 - test_accuracy: 0.98`).
    pub fn last_field(&self, name: &str) -> f64 {
        field(self.stdout.lines().last().expect("some output"), name)
    }

    /// Asserts exit code 1 and one line on stderr, `error: ...`, containing each of `expect`.
    pub fn one_line_error(&self, expect: &[&str]) {
        assert_eq!(self.code, Some(1), "expected failure: {}", self.stdout);
        let err = &self.stderr;
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line expected: {err}"
        );
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        for e in expect {
            assert!(err.contains(e), "'{e}' not in: {err}");
        }
    }

    /// The JSON the run printed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).expect("the run prints JSON")
    }
}

/// Parses `name: value` out of a ` - `-separated line.
pub fn field(line: &str, name: &str) -> f64 {
    line.split(" - ")
        .find_map(|part| part.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no '{name}' in: {line}"))
        .parse()
        .unwrap()
}

/// A gzip dataset of 600 training and 200 test images of 12x12, 10 classes, in `mnist/`.
pub fn small_dataset(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    write_dataset(
        &dir.path().join("mnist"),
        &synthetic_dataset(600, 200, 12, 12, 10),
        true,
    );
    dir
}

/// The table's rows as cells, without the two seconds columns (which vary run to run):
/// a comparison's table as shards and an unsharded run must agree on it.
pub fn table_without_seconds(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells[..cells.len().saturating_sub(2)].join(" ")
        })
        .collect()
}

/// `path` as a command-line argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}
