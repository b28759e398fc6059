//! Every pipeline the runtime can create ([`variants::all`]: each module, entry point and set
//! of override constants) through every naga back end wgpu uses, with wgpu-hal's options:
//! MSL 2.1 (Metal), HLSL 6.0 and 5.1 (DX12 with DXC, and its FXC fallback), GLSL 4.30 core
//! and ES 3.10 (GL), SPIR-V 1.3 (Vulkan 1.1). No adapter is needed.
//!
//! Where a compiler for the output is installed (CI installs them; see `scripts/test`), the
//! output is compiled for real: glslangValidator for GLSL, spirv-val for SPIR-V. Set
//! `SHADERFIT_REQUIRE_TOOLS=1` to fail instead of skipping when one is missing.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use shaderfit::gpu::kernels::variants::{self, PipelineVariant};
use shaderfit::gpu::kernels::ModuleKey;
use support::TempDir;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    Msl21,
    Hlsl60,
    Hlsl51,
    Glsl430,
    GlslEs310,
    Spv13,
}

/// One test per target, each translating every pipeline to it and compiling the outputs where
/// a compiler is installed (one test for all would take minutes on two cores).
macro_rules! targets {
    ($($test:ident: $target:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                translate_and_compile(Target::$target);
            }
        )*
    };
}

targets! {
    translation_of_every_pipeline_to_msl_2_1: Msl21,
    translation_of_every_pipeline_to_hlsl_6_0: Hlsl60,
    translation_of_every_pipeline_to_hlsl_5_1: Hlsl51,
    translation_of_every_pipeline_to_glsl_430_compiles: Glsl430,
    translation_of_every_pipeline_to_glsl_es_310_compiles: GlslEs310,
    translation_of_every_pipeline_to_spirv_1_3_validates: Spv13,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Msl21 => "MSL 2.1",
            Target::Hlsl60 => "HLSL 6.0",
            Target::Hlsl51 => "HLSL 5.1",
            Target::Glsl430 => "GLSL 4.30 core",
            Target::GlslEs310 => "GLSL ES 3.10",
            Target::Spv13 => "SPIR-V 1.3",
        }
    }

    /// The file extension the output is written with, for the compilers.
    fn extension(self) -> &'static str {
        match self {
            Target::Msl21 => "metal",
            Target::Hlsl60 | Target::Hlsl51 => "hlsl",
            Target::Glsl430 | Target::GlslEs310 => "comp",
            Target::Spv13 => "spv",
        }
    }
}

/// A module as wgpu holds it: parsed and validated once, shared by its pipelines.
struct Parsed {
    module: naga::Module,
    info: ModuleInfo,
    /// Group-0 binding numbers, for the back ends' binding maps.
    bindings: Vec<u32>,
}

fn parse(key: ModuleKey) -> Parsed {
    let source = key.source();
    let module = naga::front::wgsl::parse_str(&source.source)
        .unwrap_or_else(|e| panic!("{}: {}", source.name, e.emit_to_string(&source.source)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", source.name, e.emit_to_string(&source.source)));
    let bindings = module
        .global_variables
        .iter()
        .filter_map(|(_, v)| v.binding.as_ref().map(|b| b.binding))
        .collect();
    Parsed {
        module,
        info,
        bindings,
    }
}

/// The output of one back end: text, or SPIR-V words.
enum Output {
    Text(String),
    Words(Vec<u32>),
}

impl Output {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Output::Text(s) => s.clone().into_bytes(),
            Output::Words(w) => bytemuck::cast_slice(w).to_vec(),
        }
    }
}

/// Applies the variant's override constants (as wgpu-hal does before every back end), then
/// writes `target`.
fn translate(p: &Parsed, v: &PipelineVariant, target: Target) -> Result<Output, String> {
    let constants: naga::back::PipelineConstants = v.constants.iter().cloned().collect();
    let stage = naga::ShaderStage::Compute;
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &p.module,
        &p.info,
        Some((stage, &v.entry)),
        &constants,
    )
    .map_err(|e| format!("overrides: {e}"))?;
    match target {
        Target::Msl21 => write_msl(&module, &info, p, &v.entry),
        Target::Hlsl60 => write_hlsl(&module, &info, p, &v.entry, hlsl::ShaderModel::V6_0),
        Target::Hlsl51 => write_hlsl(&module, &info, p, &v.entry, hlsl::ShaderModel::V5_1),
        Target::Glsl430 => write_glsl(&module, &info, p, &v.entry, glsl::Version::Desktop(430)),
        Target::GlslEs310 => write_glsl(&module, &info, p, &v.entry, glsl::Version::new_gles(310)),
        Target::Spv13 => write_spv(&module, &info, &v.entry),
    }
}

/// wgpu-hal's Metal options: explicit buffer slots (no faked bindings), a sizes buffer for
/// runtime-sized arrays, bounds checks restricted.
fn write_msl(
    module: &naga::Module,
    info: &ModuleInfo,
    p: &Parsed,
    entry: &str,
) -> Result<Output, String> {
    let resources = p
        .bindings
        .iter()
        .map(|&b| {
            let target = msl::BindTarget {
                buffer: Some(b as u8),
                mutable: true,
                ..Default::default()
            };
            (
                naga::ResourceBinding {
                    group: 0,
                    binding: b,
                },
                target,
            )
        })
        .collect();
    let ep = msl::EntryPointResources {
        resources,
        immediates_buffer: None,
        sizes_buffer: Some(30),
    };
    let restrict = naga::proc::BoundsCheckPolicy::Restrict;
    let options = msl::Options {
        lang_version: (2, 1),
        fake_missing_bindings: false,
        per_entry_point_map: BTreeMap::from([(entry.to_string(), ep)]),
        bounds_check_policies: naga::proc::BoundsCheckPolicies {
            index: restrict,
            buffer: restrict,
            image_load: restrict,
            binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
        },
        zero_initialize_workgroup_memory: true,
        force_loop_bounding: true,
        ..Default::default()
    };
    let pipeline = msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, entry.to_string())),
        ..Default::default()
    };
    msl::write_string(module, info, &options, &pipeline)
        .map(|(s, _)| Output::Text(s))
        .map_err(|e| format!("{e:?}"))
}

/// wgpu-hal's DX12 options: explicit registers (no faked bindings), zeroed workgroup memory,
/// bounded loops.
fn write_hlsl(
    module: &naga::Module,
    info: &ModuleInfo,
    p: &Parsed,
    entry: &str,
    shader_model: hlsl::ShaderModel,
) -> Result<Output, String> {
    let binding_map = p
        .bindings
        .iter()
        .map(|&b| {
            let target = hlsl::BindTarget {
                space: 0,
                register: b,
                binding_array_size: None,
                dynamic_storage_buffer_offsets_index: None,
                restrict_indexing: true,
            };
            (
                naga::ResourceBinding {
                    group: 0,
                    binding: b,
                },
                target,
            )
        })
        .collect();
    let options = hlsl::Options {
        shader_model,
        binding_map,
        fake_missing_bindings: false,
        zero_initialize_workgroup_memory: true,
        restrict_indexing: true,
        force_loop_bounding: true,
        ..Default::default()
    };
    let pipeline = hlsl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, entry.to_string())),
    };
    let mut out = String::new();
    hlsl::Writer::new(&mut out, &options, &pipeline)
        .write(module, info, None)
        .map_err(|e| format!("{e:?}"))?;
    Ok(Output::Text(out))
}

/// wgpu-hal's GL options: the pipeline layout's binding map, zeroed workgroup memory, no
/// bounds checks on buffers (GL has none to offer).
fn write_glsl(
    module: &naga::Module,
    info: &ModuleInfo,
    p: &Parsed,
    entry: &str,
    version: glsl::Version,
) -> Result<Output, String> {
    let options = glsl::Options {
        version,
        writer_flags: glsl::WriterFlags::ADJUST_COORDINATE_SPACE,
        binding_map: p
            .bindings
            .iter()
            .map(|&b| {
                (
                    naga::ResourceBinding {
                        group: 0,
                        binding: b,
                    },
                    b as u8,
                )
            })
            .collect(),
        zero_initialize_workgroup_memory: true,
    };
    let pipeline = glsl::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: entry.to_string(),
        multiview: None,
    };
    let unchecked = naga::proc::BoundsCheckPolicy::Unchecked;
    let policies = naga::proc::BoundsCheckPolicies {
        index: unchecked,
        buffer: unchecked,
        image_load: unchecked,
        binding_array: unchecked,
    };
    let mut out = String::new();
    glsl::Writer::new(&mut out, module, info, &options, &pipeline, policies)
        .and_then(|mut w| w.write())
        .map_err(|e| format!("{e:?}"))?;
    Ok(Output::Text(out))
}

/// wgpu-hal's Vulkan options for a Vulkan 1.1 device: SPIR-V 1.3, index and buffer accesses
/// restricted (no robustBufferAccess2 assumed).
fn write_spv(module: &naga::Module, info: &ModuleInfo, entry: &str) -> Result<Output, String> {
    let restrict = naga::proc::BoundsCheckPolicy::Restrict;
    let options = spv::Options {
        lang_version: (1, 3),
        flags: spv::WriterFlags::LABEL_VARYINGS | spv::WriterFlags::FORCE_POINT_SIZE,
        bounds_check_policies: naga::proc::BoundsCheckPolicies {
            index: restrict,
            buffer: restrict,
            image_load: restrict,
            binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
        },
        ..Default::default()
    };
    let pipeline = spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: entry.to_string(),
    };
    spv::write_vec(module, info, &options, Some(&pipeline))
        .map(Output::Words)
        .map_err(|e| format!("{e:?}"))
}

/// What translating every variant found: pipelines per target, the distinct outputs (keyed
/// by a hash of their content, so that each is compiled once; those of targets with a
/// compiler written to files) and the failures.
#[derive(Default)]
struct Translated {
    count: BTreeMap<Target, usize>,
    outputs: BTreeMap<Target, HashMap<u64, (PathBuf, String)>>,
    failures: Vec<String>,
}

/// Where `target`'s outputs are written for a compiler, if it has one.
fn compiled(target: Target) -> bool {
    matches!(target, Target::Glsl430 | Target::GlslEs310 | Target::Spv13)
}

fn describe(v: &PipelineVariant) -> String {
    let set: Vec<String> = v
        .constants
        .iter()
        .filter(|(_, value)| *value != 0.0)
        .map(|(n, value)| format!("{n}={value}"))
        .collect();
    let source = v.module.source();
    format!("{} '{}' [{}]", source.name, v.entry, set.join(" "))
}

/// Translates `variants` (all of one module) to `targets`.
fn translate_module(
    key: ModuleKey,
    variants: &[&PipelineVariant],
    (dir, targets): (&Path, &[Target]),
    into: &mut Translated,
) {
    use std::hash::{Hash, Hasher};
    let parsed = parse(key);
    for v in variants {
        for &target in targets {
            match translate(&parsed, v, target) {
                Ok(out) => {
                    *into.count.entry(target).or_default() += 1;
                    let bytes = out.bytes();
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    bytes.hash(&mut h);
                    let hash = h.finish();
                    let outputs = into.outputs.entry(target).or_default();
                    outputs.entry(hash).or_insert_with(|| {
                        let path =
                            dir.join(format!("{target:?}-{hash:016x}.{}", target.extension()));
                        if compiled(target) {
                            std::fs::write(&path, &bytes).unwrap();
                        }
                        (path, format!("{} as {}", describe(v), target.name()))
                    });
                }
                Err(e) => into
                    .failures
                    .push(format!("{} -> {}: {e}", describe(v), target.name())),
            }
        }
    }
}

/// Every variant translated to `targets`, on as many threads as the machine has.
fn translate_all(all: &[PipelineVariant], dir: &Path, targets: &[Target]) -> Translated {
    let mut by_module: Vec<(ModuleKey, Vec<&PipelineVariant>)> = Vec::new();
    for v in all {
        match by_module.iter_mut().find(|(k, _)| *k == v.module) {
            Some((_, list)) => list.push(v),
            None => by_module.push((v.module, vec![v])),
        }
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let results: Vec<Translated> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<_> = by_module.iter().skip(t).step_by(threads).collect();
                s.spawn(move || {
                    let mut out = Translated::default();
                    for (key, list) in mine {
                        translate_module(*key, list, (dir, targets), &mut out);
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Translated::default();
    for r in results {
        for (t, n) in r.count {
            *total.count.entry(t).or_default() += n;
        }
        for (t, outs) in r.outputs {
            total.outputs.entry(t).or_default().extend(outs);
        }
        total.failures.extend(r.failures);
    }
    total
}

/// Every pipeline translates to `target`, and its outputs compile where `target` has a
/// compiler here.
fn translate_and_compile(target: Target) {
    let all = variants::all();
    let modules = ModuleKey::all().len();
    let dir = TempDir::new("backends");
    let t = translate_all(&all, dir.path(), &[target]);
    let distinct = t.outputs.get(&target).map_or(0, HashMap::len);
    println!(
        "{} pipelines of {modules} modules translated to {}: {distinct} distinct outputs",
        all.len(),
        target.name()
    );
    assert!(
        t.failures.is_empty(),
        "{} translations failed, e.g.:\n{}",
        t.failures.len(),
        t.failures[..t.failures.len().min(10)].join("\n")
    );
    assert_eq!(t.count[&target], all.len(), "{}", target.name());
    let failures = compile_all(&t);
    assert!(
        failures.is_empty(),
        "{} outputs failed to compile, e.g.:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n\n")
    );
}

/// An external compiler, found on PATH or not.
struct Tool {
    program: &'static str,
    package: &'static str,
}

const GLSLANG: Tool = Tool {
    program: "glslangValidator",
    package: "glslang-tools",
};
const SPIRV_VAL: Tool = Tool {
    program: "spirv-val",
    package: "spirv-tools",
};

impl Tool {
    /// Whether it runs; when it does not and `SHADERFIT_REQUIRE_TOOLS` is set, a failure.
    fn present(&self) -> bool {
        let runs = Command::new(self.program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        let required = std::env::var_os("SHADERFIT_REQUIRE_TOOLS").is_some_and(|v| v == "1");
        assert!(
            runs || !required,
            "SHADERFIT_REQUIRE_TOOLS=1 but {} does not run: apt-get install {}",
            self.program,
            self.package
        );
        if !runs {
            println!(
                "  skipped compiling with {}: not installed (apt-get install {})",
                self.program, self.package
            );
        }
        runs
    }
}

/// `check` over `items` on as many threads as the machine has, with the failures it returns.
fn in_parallel<T: Sync>(items: &[T], check: impl Fn(&T) -> Option<String> + Sync) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let check = &check;
                s.spawn(move || {
                    items
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .filter_map(check)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Runs `program args.. files..`; the tool's output when it fails.
fn run_tool(program: &str, args: &[&str], files: &[(PathBuf, String)]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .args(files.iter().map(|f| &f.0))
        .output()
        .expect("the tool runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let what: Vec<&str> = files.iter().map(|f| f.1.as_str()).collect();
    (!out.status.success()).then(|| format!("{}:\n{}", what.join(", "), text.trim()))
}

/// Runs the tool on every file, one per run, in parallel.
fn check_each(files: &[(PathBuf, String)], program: &str, args: &[&str]) -> Vec<String> {
    in_parallel(files, |f| run_tool(program, args, std::slice::from_ref(f)))
}

/// Like [`check_each`] for a tool that compiles each of many files on its own in one run
/// (glslangValidator without `-l`): runs of 100 files, then the files of a failing run one
/// by one, so that each failure names its pipeline.
fn check_batches(files: &[(PathBuf, String)], program: &str, args: &[&str]) -> Vec<String> {
    let chunks: Vec<&[(PathBuf, String)]> = files.chunks(100).collect();
    if in_parallel(&chunks, |c| run_tool(program, args, c)).is_empty() {
        return Vec::new();
    }
    check_each(files, program, args)
}

/// Compiles the outputs where a compiler is installed: GLSL with glslangValidator, SPIR-V
/// with spirv-val. MSL has no compiler off Apple's tools, and HLSL none in Debian that takes
/// naga's output: vkd3d-compiler (1.2) reads only DXBC, and glslang's HLSL front end rejects
/// `(float[4])0`, which DXC and FXC accept; those two are checked by translation alone.
fn compile_all(t: &Translated) -> Vec<String> {
    let files = |target| -> Vec<(PathBuf, String)> {
        t.outputs
            .get(&target)
            .into_iter()
            .flat_map(|o| o.values().cloned())
            .collect()
    };
    let mut failures = Vec::new();
    let glsl = [Target::Glsl430, Target::GlslEs310];
    if glsl.iter().any(|g| t.outputs.contains_key(g)) && GLSLANG.present() {
        for target in glsl.into_iter().filter(|g| t.outputs.contains_key(g)) {
            let files = files(target);
            failures.extend(check_batches(&files, GLSLANG.program, &[]));
            println!(
                "  {:<15} {} compiled by glslangValidator",
                target.name(),
                files.len()
            );
        }
    }
    if t.outputs.contains_key(&Target::Spv13) && SPIRV_VAL.present() {
        let files = files(Target::Spv13);
        failures.extend(check_each(
            &files,
            SPIRV_VAL.program,
            &["--target-env", "vulkan1.1"],
        ));
        println!(
            "  {:<15} {} validated by spirv-val",
            Target::Spv13.name(),
            files.len()
        );
    }
    failures
}

/// The compile check catches what a back end lacks: `select` on `vec4<u32>` (as `pool.wgsl`
/// once had it) becomes `mix(uvec4, uvec4, bvec4)`, which GLSL 4.30 core lacks. naga
/// translates it; glslangValidator must reject it.
#[test]
fn translation_check_rejects_what_glsl_430_lacks() {
    if !GLSLANG.present() {
        return;
    }
    let wgsl = "@group(0) @binding(0) var<storage, read_write> out: array<vec4<u32>>;\n\
                @compute @workgroup_size(1)\n\
                fn main() { out[0] = select(out[0], out[1], out[2] > out[3]); }\n";
    let module = naga::front::wgsl::parse_str(wgsl).unwrap();
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap();
    let parsed = Parsed {
        module,
        info,
        bindings: vec![0],
    };
    let glsl = |version| {
        let Output::Text(s) = write_glsl(&parsed.module, &parsed.info, &parsed, "main", version)
            .expect("naga translates it")
        else {
            unreachable!()
        };
        s
    };
    let dir = TempDir::new("glsl-mix");
    let compile = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        check_each(&[(path, name.to_string())], GLSLANG.program, &[])
    };
    let failures = compile("mix430.comp", glsl(glsl::Version::Desktop(430)));
    assert_eq!(failures.len(), 1, "GLSL 4.30 core has no integer mix");
    assert!(failures[0].contains("mix"), "{}", failures[0]);
    let failures = compile("mix450.comp", glsl(glsl::Version::Desktop(450)));
    assert!(failures.is_empty(), "GLSL 4.50 has it: {failures:?}");
}
