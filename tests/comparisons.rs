//! What comparisons and merges join is checked: axes beside a runs list and grids past the cap
//! are refused before anything is set up; two runs files listing the same runs in other orders
//! are one comparison, whose shards merge run for run; a model file edited between two shards
//! makes them two comparisons; histories whose values no run can have, or the same history
//! twice, are refused; runs trained on different data are told apart in the table.

mod support;

use std::path::Path;

use support::cli::{arg, shaderfit, small_dataset, table_without_seconds};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn axes_beside_a_runs_list_and_grids_past_the_cap_are_refused() {
    let data = small_dataset("cmpcap");
    let runs = data.path().join("r.json");
    write(&runs, r#"[{"model": "linear"}, {"model": "mlp_small"}]"#);
    shaderfit(&["compare", "--runs", arg(&runs), "--lrs", "0.1,0.2"])
        .data(&data)
        .run()
        .one_line_error(&[
            "--lrs: given with --runs",
            "expected the axes or the list, not both",
        ]);
    let seeds: Vec<String> = (1..=200).map(|s| s.to_string()).collect();
    let lrs: Vec<String> = (1..=100).map(|l| format!("0.00{l}")).collect();
    let (seeds, lrs) = (
        format!("seed={}", seeds.join(",")),
        format!("lr={}", lrs.join(",")),
    );
    shaderfit(&["compare", "--grid", &seeds, "--grid", &lrs])
        .data(&data)
        .run()
        .one_line_error(&[
            "--max-runs",
            "20000 runs (200 seed (--grid) x 100 lr (--grid))",
        ]);
}

/// The same runs listed in two orders: each file's shard merges with the other's into the
/// unsharded comparison's table; a model file edited between two shards is refused at the
/// merge, naming the architectures.
#[test]
fn runs_lists_compare_as_sets_and_models_by_their_architecture() {
    let data = small_dataset("cmpsets");
    let (r1, r2) = (data.path().join("r1.json"), data.path().join("r2.json"));
    write(
        &r1,
        r#"[{"model": "linear", "lr": 0.1}, {"lr": 0.2, "model": "linear"}]"#,
    );
    write(
        &r2,
        r#"[{"model": "linear", "lr": 0.2}, {"model": "linear", "lr": 0.1}]"#,
    );
    let shard = |runs: &Path, k: &str, json: &Path| {
        let args = [
            "compare",
            "--runs",
            arg(runs),
            "--epochs",
            "1",
            "--shard",
            k,
        ];
        shaderfit(&args)
            .data(&data)
            .args(&["--json", arg(json)])
            .run()
    };
    let (s0, s1) = (data.path().join("s0.json"), data.path().join("s1.json"));
    shard(&r1, "0/2", &s0).ok();
    shard(&r2, "1/2", &s1).ok();
    let merged = shaderfit(&["compare", "merge", arg(&s0), arg(&s1)]).run();
    let whole = shaderfit(&["compare", "--runs", arg(&r2), "--epochs", "1"])
        .data(&data)
        .run();
    assert_eq!(
        table_without_seconds(&merged.ok().stdout),
        table_without_seconds(&whole.ok().stdout)
    );

    let model = data.path().join("m.json");
    let spec = shaderfit(&["model", "show", "linear"])
        .run()
        .ok()
        .stdout
        .clone();
    write(&model, &spec);
    let runs = data.path().join("mine.json");
    let list = format!(
        r#"[{{"model": "{}"}}, {{"model": "mlp_small"}}]"#,
        arg(&model)
    );
    write(&runs, &list);
    let (m0, m1) = (data.path().join("m0.json"), data.path().join("m1.json"));
    shard(&runs, "0/2", &m0).ok();
    // The same file, the same name, another architecture.
    let small = shaderfit(&["model", "show", "mlp_small"])
        .run()
        .ok()
        .stdout
        .clone();
    write(&model, &small.replace("\"mlp_small\"", "\"linear\""));
    shard(&runs, "1/2", &m1).ok();
    shaderfit(&["compare", "merge", arg(&m0), arg(&m1)])
        .run()
        .one_line_error(&[
            "is of another comparison than",
            "its model architectures is",
        ]);
}

/// A history whose accuracy is outside [0, 1] or whose loss is negative, and the same history
/// given twice, are refused naming the file and the value; histories trained on different data
/// get a `data` column, telling them apart.
#[test]
fn histories_are_checked_and_told_apart_by_their_data() {
    let data = small_dataset("cmphist");
    let other = small_dataset("cmphist2");
    // Other data: the same shapes, fewer training images.
    support::write_dataset(
        &other.path().join("mnist"),
        &support::synthetic_dataset(500, 200, 12, 12, 10),
        true,
    );
    let history = |dir: &support::TempDir, name: &str| {
        let path = dir.path().join(name);
        let args = [
            "train",
            "--model",
            "linear",
            "--epochs",
            "1",
            "--history",
            arg(&path),
        ];
        shaderfit(&args).data(dir).run().ok();
        path
    };
    let (a, b) = (history(&data, "a.json"), history(&data, "b.json"));
    let table = shaderfit(&["compare", arg(&a), arg(&b)]).run();
    assert!(!table.ok().stdout.contains(" data "), "{}", table.stdout);
    shaderfit(&["compare", arg(&a), arg(&a)])
        .run()
        .one_line_error(&["hold the same run; expected each run once"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    for (key, value, says) in [
        (
            "val_accuracy",
            2.0,
            "its 'val_accuracy' of epoch 1 is 2; expected an accuracy in [0, 1]",
        ),
        (
            "loss",
            -1.0,
            "its 'loss' of epoch 1 is -1; expected a finite number >= 0",
        ),
    ] {
        let mut bad = json.clone();
        bad[key][0] = serde_json::json!(value);
        let path = data.path().join("bad.json");
        write(&path, &bad.to_string());
        shaderfit(&["compare", arg(&path), arg(&b)])
            .run()
            .one_line_error(&["bad.json: ", says]);
    }
    let elsewhere = history(&other, "c.json");
    let mixed = shaderfit(&["compare", arg(&a), arg(&elsewhere)]).run();
    let header = mixed.ok().stdout.lines().next().unwrap().to_string();
    assert!(header.contains(" data "), "{}", mixed.stdout);
}
