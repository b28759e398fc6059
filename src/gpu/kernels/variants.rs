//! Every pipeline the runtime can create: each module of [`ModuleKey::all`], each of its entry
//! points, and each set of override constants its launchers can pass. The back-end test
//! (`tests/backends.rs`) translates all of them with every naga back end, and
//! [`super::Kernels::created_pipelines`] lets a test check that the pipelines a run really
//! created are among them, so that the enumeration cannot fall behind the launchers.

use super::{blocked, ModuleKey};

/// One pipeline: a module's entry point with every override constant the module declares
/// given a value (defaults filled in), sorted by name.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineVariant {
    pub module: ModuleKey,
    pub entry: String,
    pub constants: Vec<(String, f64)>,
}

/// A parsed module's override constants: name and default value.
type Overrides = Vec<(String, f64)>;

/// Every pipeline of every module the runtime can create.
pub fn all() -> Vec<PipelineVariant> {
    let mut all = Vec::new();
    for key in ModuleKey::all() {
        let (entries, overrides) = parse(key);
        let sets = constant_sets(key, &overrides);
        for entry in entries {
            all.extend(sets.iter().map(|constants| PipelineVariant {
                module: key,
                entry: entry.clone(),
                constants: constants.clone(),
            }));
        }
    }
    all
}

/// `constants` as [`PipelineVariant`] holds them: every override of `module` with a value
/// (the given one or its default), sorted by name. Where the runtime leaves a constant out it
/// takes its default, so a created pipeline compares equal to its enumerated twin.
pub fn normalize(module: ModuleKey, constants: &[(&str, f64)]) -> Vec<(String, f64)> {
    let (_, overrides) = parse(module);
    let mut all: Vec<(String, f64)> = overrides
        .into_iter()
        .map(|(name, default)| {
            let given = constants.iter().find(|(n, _)| *n == name).map(|c| c.1);
            (name, given.unwrap_or(default))
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The module's entry points and override constants, from naga.
fn parse(key: ModuleKey) -> (Vec<String>, Overrides) {
    let source = key.source();
    let module = naga::front::wgsl::parse_str(&source.source)
        .unwrap_or_else(|e| panic!("{}: {}", source.name, e.emit_to_string(&source.source)));
    let entries = module.entry_points.iter().map(|e| e.name.clone()).collect();
    let overrides = module
        .overrides
        .iter()
        .map(|(_, o)| {
            let name = o.name.clone().unwrap_or_default();
            let default = o
                .init
                .and_then(|init| match module.global_expressions[init] {
                    naga::Expression::Literal(naga::Literal::Bool(b)) => Some(b as u32 as f64),
                    naga::Expression::Literal(naga::Literal::U32(u)) => Some(u as f64),
                    _ => None,
                })
                .unwrap_or_else(|| {
                    panic!("{}: override {name} has no literal default", source.name)
                });
            (name, default)
        })
        .collect();
    (entries, overrides)
}

/// The values an override can take where the launchers set it. Constants fixed by the module
/// itself take just the one value the launcher derives from the key.
fn domain(key: ModuleKey, name: &str, default: f64) -> Vec<f64> {
    match (name, key) {
        ("ACT" | "DACT", _) => vec![0.0, 1.0, 2.0],
        // vec4 loads along K need split-K slices that start on multiples of 4; only the
        // tiled kernels load vec4s.
        ("K_ALIGN", ModuleKey::Tiled(_, (a, b))) => vec![a.max(b) as f64],
        ("K_ALIGN", _) => vec![default],
        // The paired dense backward's rows per invocation (policy::DensePair::rows_for).
        ("ROWS", ModuleKey::DenseBackward) => vec![1.0, 4.0],
        // Lanes per workgroup across x and y: x a power of two, x * y = LANES.
        ("LANES_X", ModuleKey::Blocked(..)) => {
            blocked::lane_splits().iter().map(|l| l.0 as f64).collect()
        }
        ("LANES_Y", ModuleKey::Blocked(..)) => {
            blocked::lane_splits().iter().map(|l| l.1 as f64).collect()
        }
        _ => vec![0.0, 1.0],
    }
}

/// Every combination of the overrides' domains that the launchers can pass, each sorted by
/// name. The rules that prune the product are the launchers': an activation is applied
/// (ACT, forward) or differentiated (DACT, backward), never both; a bias is added only going
/// forward; row sums come with no epilogue; blocked kernels' lanes multiply to LANES.
fn constant_sets(key: ModuleKey, overrides: &Overrides) -> Vec<Vec<(String, f64)>> {
    let mut overrides = overrides.clone();
    overrides.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sets: Vec<Vec<(String, f64)>> = vec![Vec::new()];
    for (name, default) in &overrides {
        let values = domain(key, name, *default);
        sets = sets
            .into_iter()
            .flat_map(|set| {
                values.iter().map(move |&v| {
                    let mut set = set.clone();
                    set.push((name.to_string(), v));
                    set
                })
            })
            .collect();
    }
    sets.retain(|set| launchers_can_pass(set));
    sets
}

fn launchers_can_pass(set: &[(String, f64)]) -> bool {
    let get = |name: &str| set.iter().find(|(n, _)| n == name).map_or(0.0, |c| c.1);
    let (act, dact, bias, row_sums) = (get("ACT"), get("DACT"), get("BIAS"), get("ROW_SUMS"));
    let lanes_ok = !set.iter().any(|(n, _)| n == "LANES_X")
        || blocked::lane_splits().contains(&(get("LANES_X") as u32, get("LANES_Y") as u32));
    // Applied or differentiated, never both; a bias only going forward.
    let epilogue_ok = dact == 0.0 || (act == 0.0 && bias == 0.0);
    let row_sums_ok = row_sums == 0.0 || (bias == 0.0 && act == 0.0 && dact == 0.0);
    epilogue_ok && row_sums_ok && lanes_ok
}

/// One entry point's workgroup: its size and the workgroup memory its module declares.
struct Workgroup {
    module: String,
    entry: String,
    size: [u32; 3],
    bytes: u32,
}

/// The workgroups of every module whose sizes are literals (all but the tiled matmuls, whose
/// [`super::Tiling::fits`] the tuner checks before it times one), read once from the WGSL.
fn fixed_workgroups() -> &'static [Workgroup] {
    static ALL: std::sync::OnceLock<Vec<Workgroup>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for key in ModuleKey::all() {
            if matches!(key, ModuleKey::Tiled(..)) {
                continue;
            }
            let source = key.source();
            let Ok((bytes, _)) = super::family::workgroup_needs(&source) else {
                continue;
            };
            let Ok(module) = naga::front::wgsl::parse_str(&source.source) else {
                continue;
            };
            all.extend(module.entry_points.iter().map(|e| Workgroup {
                module: source.name.clone(),
                entry: e.name.clone(),
                size: e.workgroup_size,
                bytes,
            }));
        }
        all
    })
}

/// Whether every kernel with a fixed workgroup fits `limits`: the error names the kernel, what
/// it needs and what the adapter allows. The static kernels are written for WebGPU's default
/// limits (256 invocations, 16 KiB of workgroup memory), which Vulkan, Metal and DX12 always
/// meet; a GLES 3.1 device may offer as few as 128 invocations.
pub fn check_workgroups(limits: &wgpu::Limits) -> Result<(), String> {
    for w in fixed_workgroups() {
        let [x, y, z] = w.size;
        let per_dim = [
            (x, limits.max_compute_workgroup_size_x),
            (y, limits.max_compute_workgroup_size_y),
            (z, limits.max_compute_workgroup_size_z),
        ];
        let invocations = x * y * z;
        let problem = if invocations > limits.max_compute_invocations_per_workgroup {
            Some(format!(
                "{invocations} invocations per workgroup; the adapter allows {}",
                limits.max_compute_invocations_per_workgroup
            ))
        } else if let Some((n, max)) = per_dim.iter().find(|(n, max)| n > max) {
            Some(format!("a workgroup side of {n}; the adapter allows {max}"))
        } else if w.bytes > limits.max_compute_workgroup_storage_size {
            Some(format!(
                "{} bytes of workgroup memory; the adapter allows {}",
                w.bytes, limits.max_compute_workgroup_storage_size
            ))
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(format!("kernel {} '{}' needs {p}", w.module, w.entry));
        }
    }
    Ok(())
}
