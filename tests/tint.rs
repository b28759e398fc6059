//! Every module through a second WGSL front end: Tint, Chromium's, which enforces rules naga
//! does not check, uniformity above all (every `workgroupBarrier` in uniform control flow, as
//! WGSL's spec requires). Headless Chromium with WebGPU on its software adapter (SwiftShader)
//! compiles each module with `createShaderModule`, reports `getCompilationInfo`, and creates
//! a compute pipeline for each entry point; any error or warning fails the test.
//!
//! Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
//! messages ending in NUL, commands on its fd 3, replies on its fd 4). It runs where Chromium
//! is installed (`apt-get install chromium`; `SHADERFIT_CHROMIUM` names another binary) and
//! says it skipped otherwise; `SHADERFIT_REQUIRE_TOOLS=1` (CI) makes a missing one a failure.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use shaderfit::gpu::kernels::ModuleKey;
use support::TempDir;

/// Compiles each module, then a pipeline per entry point (default constants, `layout: "auto"`),
/// and returns what Tint said: `{adapter, modules, pipelines, problems: [..]}`.
const CHECK_JS: &str = r#"(async (modules) => {
  for (let i = 0; i < 100 && !navigator.gpu; i++) await new Promise(r => setTimeout(r, 100));
  if (!navigator.gpu) return { fatal: "navigator.gpu never appeared" };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { fatal: "no WebGPU adapter" };
  const device = await adapter.requestDevice({ requiredLimits: {
    maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: adapter.limits.maxComputeWorkgroupSizeY,
  } });
  const problems = [];
  const skipped = [];
  const limit = device.limits.maxStorageBuffersPerShaderStage;
  let pipelines = 0;
  for (const m of modules) {
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: m.code, label: m.name });
    const info = await module.getCompilationInfo();
    for (const msg of info.messages) {
      if (msg.type === "error" || msg.type === "warning") {
        const notes = info.messages.filter(n => n.type === "info" && n.lineNum === msg.lineNum);
        problems.push(`${m.name}:${msg.lineNum}:${msg.linePos}: ${msg.type}: ${msg.message}` +
          notes.map(n => ` (${n.message})`).join(""));
      }
    }
    const scoped = await device.popErrorScope();
    if (scoped && !info.messages.some(x => x.type === "error")) problems.push(`${m.name}: ${scoped.message}`);
    if (info.messages.some(x => x.type === "error")) continue;
    for (const entryPoint of m.entries) {
      if ((m.storage[entryPoint] || 0) > limit) {
        skipped.push(`${m.name} '${entryPoint}' (${m.storage[entryPoint]} storage buffers)`);
        continue;
      }
      try {
        await device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint } });
        pipelines++;
      } catch (e) {
        problems.push(`${m.name} '${entryPoint}': pipeline: ${e.message}`);
      }
    }
  }
  const info = adapter.info || {};
  return { adapter: `${info.vendor} ${info.architecture} ${info.description}`.trim(), modules: modules.length, pipelines, problems, skipped, limit };
})"#;

/// A headless Chromium and its DevTools pipe.
struct Browser {
    child: Child,
    commands: std::io::PipeWriter,
    replies: BufReader<std::io::PipeReader>,
    next_id: u64,
}

impl Browser {
    /// Starts `program` headless with WebGPU on SwiftShader. Its fds 3 and 4 are set up by
    /// `sh` from the pipes given as its stdin and stdout (std has no way to pass other fds).
    fn start(program: &str, profile: &std::path::Path) -> Browser {
        let (cmd_read, commands) = std::io::pipe().expect("a pipe");
        let (replies, reply_write) = std::io::pipe().expect("a pipe");
        let child = Command::new("sh")
            .args([
                "-c",
                r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null 2>/dev/null"#,
            ])
            .arg(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--enable-unsafe-webgpu",
                "--use-webgpu-adapter=swiftshader",
                "--remote-debugging-pipe",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(cmd_read)
            .stdout(reply_write)
            .stderr(Stdio::null())
            .spawn()
            .expect("start Chromium");
        Browser {
            child,
            commands,
            replies: BufReader::new(replies),
            next_id: 0,
        }
    }

    /// Sends a command (to a page's session, if given) and waits for its reply's `result`.
    fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let mut message = json!({ "id": self.next_id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .expect("Chromium reads commands");
        loop {
            let mut reply = Vec::new();
            let n = self
                .replies
                .read_until(0, &mut reply)
                .expect("read a reply");
            assert!(n > 0, "Chromium closed its DevTools pipe during {method}");
            reply.pop();
            let reply: Value = serde_json::from_slice(&reply).expect("a JSON reply");
            if reply["id"] == json!(self.next_id) {
                assert!(reply.get("error").is_none(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Chromium to run, if there is one.
fn chromium() -> Option<String> {
    let candidates = match std::env::var("SHADERFIT_CHROMIUM") {
        Ok(p) => vec![p],
        Err(_) => vec![
            "chromium".into(),
            "chromium-browser".into(),
            "google-chrome".into(),
        ],
    };
    let found = candidates.into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let required = std::env::var_os("SHADERFIT_REQUIRE_TOOLS").is_some_and(|v| v == "1");
    assert!(
        found.is_some() || !required,
        "SHADERFIT_REQUIRE_TOOLS=1 but Chromium does not run: apt-get install chromium"
    );
    if found.is_none() {
        println!("skipped the Tint check: Chromium not installed (apt-get install chromium)");
    }
    found
}

/// Every `n`-th module the runtime can create from the `k`-th, with its entry points, as the
/// check's input.
fn modules(k: usize, n: usize) -> Value {
    let all: Vec<Value> = ModuleKey::all()
        .into_iter()
        .skip(k)
        .step_by(n)
        .map(|key| {
            let m = key.source();
            let parsed = naga::front::wgsl::parse_str(&m.source).expect("naga parses it");
            let entries: Vec<&str> = parsed
                .entry_points
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            let storage = shaderfit::gpu::kernels::family::storage_buffers_per_entry(&m);
            json!({ "name": m.name, "code": m.source, "entries": entries, "storage": storage })
        })
        .collect();
    Value::Array(all)
}

/// Runs [`CHECK_JS`] over `modules` in a page of a fresh Chromium, killed if it takes over
/// `limit`.
fn tint_check(program: &str, modules: &Value, limit: Duration) -> Value {
    let dir = TempDir::new("tint");
    // WebGPU needs a secure context: a file: page is one, about:blank is not.
    let page = dir.path().join("check.html");
    std::fs::write(&page, "<!doctype html><title>shaderfit tint check</title>").unwrap();
    let mut browser = Browser::start(program, &dir.path().join("profile"));
    let pid = browser.child.id();
    let (done, running) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if running.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            // The pipe then closes and `call` fails, naming the command it waited for.
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    });
    let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }), None);
    let attached = browser.call(
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
        None,
    );
    let session = attached["sessionId"]
        .as_str()
        .expect("a session")
        .to_string();
    browser.call("Page.enable", json!({}), Some(&session));
    let url = format!("file://{}", page.display());
    browser.call("Page.navigate", json!({ "url": url }), Some(&session));
    // The expression's first evaluation waits (in JS) for navigator.gpu after the load.
    let expression = format!("{CHECK_JS}({modules})");
    let result = browser.call(
        "Runtime.evaluate",
        json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        Some(&session),
    );
    assert!(
        result.get("exceptionDetails").is_none(),
        "the check threw: {}",
        result["exceptionDetails"]
    );
    drop(done);
    result["result"]["value"].clone()
}

/// The modules in shards, a test each (one Chromium compiling all of them takes about 90 s
/// here, over the suite's budget for one test); [`SHARDS`] is how many the list declares.
macro_rules! shards {
    ($($test:ident: $k:expr),* $(,)?) => {
        const SHARDS: usize = [$($k),*].len();
        $(
            #[test]
            fn $test() {
                tint_accepts_shard($k);
            }
        )*
    };
}

shards! {
    translation_tint_accepts_every_module_and_entry_point_shard_0: 0,
    translation_tint_accepts_every_module_and_entry_point_shard_1: 1,
    translation_tint_accepts_every_module_and_entry_point_shard_2: 2,
    translation_tint_accepts_every_module_and_entry_point_shard_3: 3,
}

/// Shard `k` of [`SHARDS`]: every module from the `k`-th, each compiled with a pipeline per
/// entry point and no error or warning.
fn tint_accepts_shard(k: usize) {
    let Some(program) = chromium() else {
        return;
    };
    let modules = modules(k, SHARDS);
    let report = tint_check(&program, &modules, Duration::from_secs(600));
    assert!(report.get("fatal").is_none(), "{}", report["fatal"]);
    let problems: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "Tint ({}): {} modules compiled, {} pipelines created, {} problems",
        report["adapter"].as_str().unwrap_or("?"),
        report["modules"],
        report["pipelines"],
        problems.len()
    );
    assert!(problems.is_empty(), "Tint:\n{}", problems.join("\n"));
    // An entry point needing more storage buffers per stage than the adapter allows (the
    // fused step end, which policies choose only where the adapter has them) is compiled
    // and checked, but gets no pipeline.
    let limit = report["limit"].as_u64().unwrap() as usize;
    let (mut entries, mut over) = (0, 0);
    for m in modules.as_array().unwrap() {
        for e in m["entries"].as_array().unwrap() {
            entries += 1;
            over += (m["storage"][e.as_str().unwrap()].as_u64().unwrap() as usize > limit) as usize;
        }
    }
    let skipped = report["skipped"].as_array().unwrap();
    if !skipped.is_empty() {
        println!("no pipeline (over the adapter's {limit} storage buffers per stage): {skipped:?}");
    }
    assert_eq!(skipped.len(), over);
    assert_eq!(report["pipelines"], json!(entries - over));
}

/// The check can fail: a barrier under a branch on the invocation id is reported, with its
/// line and Tint's reason.
#[test]
fn translation_tint_reports_a_non_uniform_barrier() {
    let Some(program) = chromium() else {
        return;
    };
    let code = "@compute @workgroup_size(64)\n\
                fn main(@builtin(local_invocation_id) l: vec3<u32>) {\n\
                  if (l.x == 0u) { workgroupBarrier(); }\n\
                }\n";
    let modules = json!([{ "name": "non-uniform", "code": code, "entries": ["main"] }]);
    let report = tint_check(&program, &modules, Duration::from_secs(120));
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("non-uniform:3:") && problems.contains("uniform control flow"),
        "{report}"
    );
}
