//! Every output of every command keeps the same rules, because every path argument is either
//! an input (`cli::INPUT_ARGS`) or an output declared in `output::OUTPUT_FLAGS`, and each
//! output of each command is tried here: onto a FIFO it is refused by name (never a hang),
//! onto one of the command's own inputs it is refused (never replaced), and a write stopped
//! just before its rename (a failpoint aborts the process there, as a full disk or a kill
//! would end it) leaves the file it was replacing whole.

mod support;

use std::any::TypeId;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use shaderfit::output::{Written, OUTPUT_FLAGS};
use support::cli::{arg, shaderfit, small_dataset};
use support::TempDir;

/// Every path argument of every command: (the command's words, the argument's long flag or
/// its id for a positional one).
fn path_arguments() -> Vec<(String, String)> {
    fn walk(cmd: &clap::Command, words: &str, all: &mut Vec<(String, String)>) {
        for a in cmd.get_arguments() {
            if a.get_value_parser().type_id() == TypeId::of::<PathBuf>() {
                let name = a
                    .get_long()
                    .map_or_else(|| a.get_id().to_string(), |long| format!("--{long}"));
                all.push((words.trim().to_string(), name));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{words} {}", sub.get_name()), all);
        }
    }
    let mut all = Vec::new();
    walk(&shaderfit::cli::Cli::command(), "", &mut all);
    all
}

/// One output of one command, as a command line with `{OUT}` where the output goes, and the
/// input of that command (with an extension the output takes) to try it onto, if any has one.
struct Case {
    command: &'static str,
    flag: &'static str,
    line: Vec<String>,
    input: Option<PathBuf>,
}

/// What the cases read: a small dataset, a checkpoint and its history, a comparison's JSON,
/// a model file, and copies of the checkpoint and the model under the extensions of outputs.
struct Inputs {
    dir: TempDir,
    data: PathBuf,
    checkpoint: PathBuf,
    history: PathBuf,
    shard: PathBuf,
}

fn inputs() -> Inputs {
    let dir = small_dataset("rules");
    let (data, checkpoint) = (dir.path().join("mnist"), dir.path().join("c.safetensors"));
    let history = dir.path().join("h.json");
    let shard = dir.path().join("shard.json");
    let train = ["train", "--model", "linear", "--epochs", "1"];
    let extra = ["--save", arg(&checkpoint), "--history", arg(&history)];
    shaderfit(&train).data(&dir).args(&extra).run().ok();
    let finished = ["compare", arg(&history), "--json", arg(&shard)];
    shaderfit(&finished).run().ok();
    let model = shaderfit(&["model", "show", "linear"])
        .run()
        .ok()
        .stdout
        .clone();
    std::fs::write(dir.path().join("m.json"), &model).unwrap();
    std::fs::write(dir.path().join("m.svg"), &model).unwrap();
    std::fs::copy(&checkpoint, dir.path().join("c.onnx")).unwrap();
    // Two rows of pixels for predict (the data's 12x12 images).
    let row = vec!["0"; 144].join(",");
    std::fs::write(dir.path().join("rows.csv"), format!("{row}\n{row}\n")).unwrap();
    Inputs {
        dir,
        data,
        checkpoint,
        history,
        shard,
    }
}

fn case(command: &'static str, flag: &'static str, line: &[&str], input: Option<PathBuf>) -> Case {
    Case {
        command,
        flag,
        line: line.iter().map(|s| s.to_string()).collect(),
        input,
    }
}

/// Every output of every command, each as a command line that reaches its write.
fn cases(i: &Inputs) -> Vec<Case> {
    let path = |name: &str| i.dir.path().join(name);
    let (model, svg_model, onnx_ckpt) = (path("m.json"), path("m.svg"), path("c.onnx"));
    let rows = path("rows.csv");
    let (ckpt, hist, shard) = (arg(&i.checkpoint), arg(&i.history), arg(&i.shard));
    let data = arg(&i.data);
    let with = |base: &[&str], more: &[&str]| -> Vec<String> {
        base.iter().chain(more).map(|s| s.to_string()).collect()
    };
    // The training lines; without their last two words, without a model.
    let train = [
        "train", "--epochs", "1", "--data", data, "--model", "linear",
    ];
    let compare = [
        "compare", "--models", "linear", "--epochs", "1", "--data", data,
    ];
    let sweep = [
        "sweep",
        "--optimizers",
        "sgd",
        "--lrs",
        "0.1",
        "--epochs",
        "1",
        "--data",
        data,
    ];
    let at_data = || Some(i.data.clone());
    let lines: Vec<(&'static str, &'static str, Vec<String>, Option<PathBuf>)> = vec![
        (
            "train",
            "--save",
            with(&train, &["--load", ckpt, "--save", "{OUT}"]),
            Some(i.checkpoint.clone()),
        ),
        (
            "train",
            "--history",
            with(&train[..5], &["--model", arg(&model), "--history", "{OUT}"]),
            Some(model.clone()),
        ),
        (
            "train",
            "--checkpoint-dir",
            with(&train, &["--checkpoint-dir", "{OUT}"]),
            at_data(),
        ),
        (
            "train",
            "--report",
            with(&train, &["--report", "{OUT}"]),
            at_data(),
        ),
        (
            "evaluate",
            "--report",
            with(
                &["evaluate", "--checkpoint", ckpt, "--data", data],
                &["--report", "{OUT}"],
            ),
            at_data(),
        ),
        (
            "export",
            "--onnx",
            with(
                &["export", "--checkpoint", arg(&onnx_ckpt)],
                &["--onnx", "{OUT}"],
            ),
            Some(onnx_ckpt.clone()),
        ),
        (
            "compare",
            "--json",
            with(&["compare", hist], &["--json", "{OUT}"]),
            Some(i.history.clone()),
        ),
        (
            "compare",
            "--report",
            with(&compare, &["--report", "{OUT}"]),
            at_data(),
        ),
        (
            "compare merge",
            "--json",
            with(&["compare", "merge", shard], &["--json", "{OUT}"]),
            Some(i.shard.clone()),
        ),
        (
            "compare merge",
            "--report",
            with(
                &["compare", "merge", shard, "--data", data],
                &["--report", "{OUT}"],
            ),
            at_data(),
        ),
        // A sweep reads no file with a .json extension.
        ("sweep", "--json", with(&sweep, &["--json", "{OUT}"]), None),
        (
            "sweep",
            "--report",
            with(&sweep, &["--report", "{OUT}"]),
            at_data(),
        ),
        (
            "sweep merge",
            "--json",
            with(&["sweep", "merge", shard], &["--json", "{OUT}"]),
            Some(i.shard.clone()),
        ),
        (
            "sweep merge",
            "--report",
            with(
                &["sweep", "merge", shard, "--data", data],
                &["--report", "{OUT}"],
            ),
            at_data(),
        ),
        (
            "summary",
            "--diagram",
            with(
                &["summary", "--model", arg(&svg_model)],
                &["--diagram", "{OUT}"],
            ),
            Some(svg_model.clone()),
        ),
        (
            "predict",
            "--submission",
            with(
                &["predict", "--checkpoint", ckpt, arg(&rows)],
                &["--submission", "{OUT}"],
            ),
            Some(rows.clone()),
        ),
        // Its only inputs are IDX files, which no .png can be.
        (
            "data show",
            "--out",
            with(
                &["data", "show", "--data", data, "--grid", "2"],
                &["--out", "{OUT}"],
            ),
            None,
        ),
        (
            "data download",
            "--to",
            with(&["data", "download", "mnist"], &["--to", "{OUT}"]),
            None,
        ),
    ];
    lines
        .into_iter()
        .map(|(command, flag, line, input)| {
            let line: Vec<&str> = line.iter().map(String::as_str).collect();
            case(command, flag, &line, input)
        })
        .collect()
}

fn run_with(c: &Case, out: &Path, failpoint: Option<&str>) -> support::cli::Run {
    let line: Vec<&str> = c
        .line
        .iter()
        .map(|a| if a == "{OUT}" { arg(out) } else { a.as_str() })
        .collect();
    let run = shaderfit(&line);
    match failpoint {
        Some(point) => run.env("SHADERFIT_FAILPOINT", point).run(),
        None => run.run(),
    }
}

/// Every path argument is an input or a declared output, and every output of every command
/// has its case below.
#[test]
fn every_path_argument_is_an_input_or_a_declared_output() {
    let outputs: Vec<&str> = OUTPUT_FLAGS.iter().map(|o| o.flag).collect();
    let i = inputs();
    let cases = cases(&i);
    for (command, name) in path_arguments() {
        let id = name.trim_start_matches("--").replace('-', "_");
        let input = shaderfit::cli::INPUT_ARGS.contains(&id.as_str());
        let output = outputs.contains(&name.as_str());
        assert!(
            input != output,
            "{command} {name}: declare it an input or an output"
        );
        if output {
            let covered = cases.iter().any(|c| c.command == command && c.flag == name);
            assert!(covered, "{command} {name}: add its case to cases()");
        }
    }
}

/// Onto a FIFO, onto one of its inputs: refused in one line naming the flag, before any work;
/// never a hang, never a replaced input.
#[test]
fn no_output_replaces_a_fifo_or_an_input() {
    let i = inputs();
    for c in cases(&i) {
        let ext = match support_ext(c.flag) {
            Some(ext) => format!("fifo-{}.{ext}", c.flag.trim_start_matches("--")),
            None => format!("fifo-{}", c.flag.trim_start_matches("--")),
        };
        let fifo = i.dir.path().join(ext);
        if !fifo.exists() {
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        }
        let what = format!("{} {}", c.command, c.flag);
        let run = run_with(&c, &fifo, None);
        assert_eq!(run.code, Some(1), "{what} onto a FIFO: {}", run.stderr);
        run.one_line_error(&[c.flag, "FIFO"]);
        if let Some(input) = &c.input {
            let before = std::fs::read(input).ok();
            let run = run_with(&c, input, None);
            assert_eq!(run.code, Some(1), "{what} onto its input: {}", run.stderr);
            run.one_line_error(&[c.flag, "one of this command's inputs"]);
            assert_eq!(
                std::fs::read(input).ok(),
                before,
                "{what}: its input intact"
            );
        }
    }
}

/// The first extension a file output takes; none for a directory.
fn support_ext(flag: &str) -> Option<&'static str> {
    match shaderfit::output::output_flag(flag).written {
        Written::File(extensions) => Some(extensions[0]),
        Written::Dir => None,
    }
}

/// A write stopped just before its rename (a full disk or a kill) leaves the file it was to
/// replace as it was (what the same command wrote before, whole); the extension is taken in
/// any case (`OLD.JSON`).
#[test]
fn a_stopped_write_leaves_the_old_file_whole() {
    let i = inputs();
    for c in cases(&i) {
        let Some(ext) = support_ext(c.flag) else {
            continue;
        };
        let what = format!("{} {}", c.command, c.flag);
        let command = c.command.replace(' ', "-");
        let flag = c.flag.trim_start_matches("--");
        let name = format!("old-{command}-{flag}.{}", ext.to_uppercase());
        let old = i.dir.path().join(name);
        run_with(&c, &old, None).ok();
        let before = std::fs::read(&old).unwrap();
        let run = run_with(&c, &old, Some("replace-before-rename"));
        assert_eq!(
            run.code, None,
            "{what}: stopped at the failpoint: {}",
            run.stderr
        );
        let stopped = run.stderr.contains("failpoint replace-before-rename");
        assert!(stopped, "{what}: {}", run.stderr);
        assert_eq!(
            std::fs::read(&old).unwrap(),
            before,
            "{what}: the old file whole"
        );
    }
}
