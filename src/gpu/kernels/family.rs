//! Each kernel family's contract, declared once on the Rust side: its bindings in order with
//! their access, and each uniform as a `#[repr(C)]` Pod struct whose layout the declaration
//! carries. The bind group layout is built from the declaration, launchers bind through it
//! (unused bindings get placeholders there, not at call sites), and [`check_module`] holds
//! the declaration against the WGSL itself, through naga's reflection, so that a binding or a
//! uniform field changed on one side only fails a test naming the shader, binding and field.

use std::collections::BTreeMap;

/// What every module starts with (`shaders/prelude.wgsl`): PAD, Cursor, the fused
/// activations, `flat_id`, `pixel_of`.
pub const PRELUDE_WGSL: &str = include_str!("../../../shaders/prelude.wgsl");

/// One field of a uniform struct: its name, byte offset and WGSL scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub ty: &'static str,
}

/// The layout of a uniform struct, as the Rust side writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniformLayout {
    pub rust_name: &'static str,
    pub size: usize,
    pub fields: &'static [Field],
}

/// Declares a uniform: a `#[repr(C)]` Pod struct of u32/f32 fields whose size is a multiple
/// of 16 bytes (WGSL's uniform rule), with its [`UniformLayout`] as `LAYOUT`.
macro_rules! uniform_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ident,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            pub const LAYOUT: $crate::gpu::kernels::family::UniformLayout =
                $crate::gpu::kernels::family::UniformLayout {
                    rust_name: stringify!($name),
                    size: std::mem::size_of::<$name>(),
                    fields: &[$($crate::gpu::kernels::family::Field {
                        name: stringify!($field),
                        offset: std::mem::offset_of!($name, $field),
                        ty: stringify!($ty),
                    },)*],
                };
        }

        const _: () = assert!(std::mem::size_of::<$name>() % 16 == 0);
    };
}
pub(crate) use uniform_struct;

/// How a binding is accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Uniform(&'static UniformLayout),
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

impl Access {
    fn describe(self) -> String {
        match self {
            Access::Uniform(l) => format!("uniform {}", l.rust_name),
            Access::Read => "storage, read".into(),
            Access::ReadWrite => "storage, read_write".into(),
        }
    }
}

/// Binding `@binding(i)` of group 0, `i` its index in [`FamilyDecl::bindings`].
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// The variable's name in WGSL.
    pub name: &'static str,
    pub access: Access,
}

pub const fn read(name: &'static str) -> Binding {
    Binding {
        name,
        access: Access::Read,
    }
}

pub const fn read_write(name: &'static str) -> Binding {
    Binding {
        name,
        access: Access::ReadWrite,
    }
}

pub const fn uniform(name: &'static str, layout: &'static UniformLayout) -> Binding {
    Binding {
        name,
        access: Access::Uniform(layout),
    }
}

/// A kernel family: the modules that share one bind group layout.
#[derive(Debug)]
pub struct FamilyDecl {
    pub name: &'static str,
    pub bindings: &'static [Binding],
}

/// A module's WGSL as the device compiles it, with the family it binds like.
#[derive(Clone, Debug)]
pub struct ModuleSource {
    pub family: &'static FamilyDecl,
    /// Unique per source, e.g. `pool vec4`; also the module cache's key.
    pub name: String,
    /// The files under `shaders/` it is built from, after the prelude.
    pub files: Vec<&'static str>,
    pub source: String,
}

/// A module's name, the files it is built from and its assembled source (see
/// [`ModuleSource`]).
pub type SourceParts = (String, Vec<&'static str>, String);

/// `wgsl` without its binding declarations (the lines that start `@group(`), for a module
/// that takes a family's code as it is and declares the same names at its own numbers.
pub fn without_bindings(wgsl: &str) -> String {
    wgsl.lines()
        .filter(|l| !l.trim_start().starts_with("@group("))
        .flat_map(|l| [l, "\n"])
        .collect()
}

/// The prelude, then `header` (element types, constants), then the files in order.
pub fn assemble(header: &str, files: &[&str]) -> String {
    let mut s =
        String::with_capacity(PRELUDE_WGSL.len() + files.iter().map(|f| f.len()).sum::<usize>());
    s.push_str(PRELUDE_WGSL);
    s.push_str(header);
    for f in files {
        s.push_str(f);
    }
    s
}

/// What the WGSL declares at one binding.
struct Found {
    name: String,
    access: FoundAccess,
}

enum FoundAccess {
    Uniform(Vec<(String, u32, String)>, u32),
    Read,
    ReadWrite,
}

/// For each entry point of `m`, the binding numbers it uses (naga's per-entry-point global
/// uses, calls included), so that its layouts declare only those. Empty when the module does
/// not parse (the pipeline's creation then reports the error).
pub fn bindings_per_entry(m: &ModuleSource) -> std::collections::HashMap<String, Vec<u32>> {
    let Ok(module) = naga::front::wgsl::parse_str(&m.source) else {
        return Default::default();
    };
    let flags = naga::valid::ValidationFlags::all();
    let Ok(info) =
        naga::valid::Validator::new(flags, naga::valid::Capabilities::all()).validate(&module)
    else {
        return Default::default();
    };
    module
        .entry_points
        .iter()
        .enumerate()
        .map(|(i, ep)| {
            let uses = info.get_entry_point(i);
            let mut used: Vec<u32> = module
                .global_variables
                .iter()
                .filter(|(handle, _)| !uses[*handle].is_empty())
                .filter_map(|(_, var)| var.binding.as_ref().map(|b| b.binding))
                .collect();
            used.sort_unstable();
            (ep.name.clone(), used)
        })
        .collect()
}

/// The storage buffers (not uniforms) each entry point of `m` binds.
pub fn storage_buffers_per_entry(m: &ModuleSource) -> std::collections::HashMap<String, usize> {
    bindings_per_entry(m)
        .into_iter()
        .map(|(entry, used)| {
            let storage = used
                .iter()
                .filter(|&&b| !matches!(m.family.bindings[b as usize].access, Access::Uniform(_)))
                .count();
            (entry, storage)
        })
        .collect()
}

/// One side of an entry point's workgroup: a literal, or an override constant (its name and
/// default) that the launch sets.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkgroupSide {
    Literal(u32),
    Override(String, Option<f64>),
}

/// Each entry point's workgroup sides, read with naga.
pub fn workgroup_sides(m: &ModuleSource) -> std::collections::HashMap<String, [WorkgroupSide; 3]> {
    let Ok(module) = naga::front::wgsl::parse_str(&m.source) else {
        return Default::default();
    };
    let side = |literal: u32, expr: Option<naga::Handle<naga::Expression>>| {
        let Some(h) = expr else {
            return WorkgroupSide::Literal(literal);
        };
        match module.global_expressions[h] {
            naga::Expression::Override(o) => {
                let o = &module.overrides[o];
                let default = o.init.and_then(|i| match module.global_expressions[i] {
                    naga::Expression::Literal(naga::Literal::U32(u)) => Some(u as f64),
                    naga::Expression::Literal(naga::Literal::I32(i)) => Some(i as f64),
                    _ => None,
                });
                WorkgroupSide::Override(o.name.clone().unwrap_or_default(), default)
            }
            _ => WorkgroupSide::Literal(literal.max(1)),
        }
    };
    module
        .entry_points
        .iter()
        .map(|ep| {
            let overrides = ep.workgroup_size_overrides.unwrap_or([None; 3]);
            let sides = std::array::from_fn(|d| side(ep.workgroup_size[d], overrides[d]));
            (ep.name.clone(), sides)
        })
        .collect()
}

/// What a module's workgroups need of the adapter: the bytes of workgroup memory its
/// variables take (all of them: an upper bound for any one entry point) and the largest
/// workgroup size its entry points declare with literals (those sized by override constants,
/// the tiled matmuls', count as 0 here: their tiling knows its own).
pub fn workgroup_needs(m: &ModuleSource) -> Result<(u32, u32), String> {
    let module = naga::front::wgsl::parse_str(&m.source)
        .map_err(|e| format!("{}: {}", m.name, e.emit_to_string(&m.source)))?;
    let bytes = module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| module.types[v.ty].inner.size(module.to_ctx()))
        .sum();
    let invocations = module
        .entry_points
        .iter()
        .map(|e| e.workgroup_size.iter().product::<u32>())
        .max()
        .unwrap_or(0);
    Ok((bytes, invocations))
}

/// Parses and validates `m` with naga and checks its bindings and uniform layouts against its
/// family's declaration. The error names the module, the binding and the field.
pub fn check_module(m: &ModuleSource) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(&m.source)
        .map_err(|e| format!("{}: {}", m.name, e.emit_to_string(&m.source)))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| format!("{}: {}", m.name, e.emit_to_string(&m.source)))?;
    let found = reflect(&module).map_err(|e| format!("{}: {e}", m.name))?;
    let decl = m.family.bindings;
    for (i, want) in decl.iter().enumerate() {
        let what = format!(
            "{}: binding {i} ('{}', {})",
            m.name,
            want.name,
            want.access.describe()
        );
        let got = found
            .get(&(i as u32))
            .ok_or_else(|| format!("{what}: the shader declares no binding {i}"))?;
        if got.name != want.name {
            return Err(format!("{what}: the shader names it '{}'", got.name));
        }
        match (want.access, &got.access) {
            (Access::Read, FoundAccess::Read) | (Access::ReadWrite, FoundAccess::ReadWrite) => {}
            (Access::Uniform(layout), FoundAccess::Uniform(fields, size)) => {
                check_uniform(layout, fields, *size).map_err(|e| format!("{what}: {e}"))?;
            }
            (_, got) => {
                let got = match got {
                    FoundAccess::Uniform(..) => "uniform",
                    FoundAccess::Read => "storage, read",
                    FoundAccess::ReadWrite => "storage, read_write",
                };
                return Err(format!("{what}: the shader declares it as {got}"));
            }
        }
    }
    if let Some((i, extra)) = found.iter().find(|(i, _)| **i as usize >= decl.len()) {
        return Err(format!(
            "{}: binding {i} ('{}') is in the shader but not in the Rust declaration of family '{}'",
            m.name, extra.name, m.family.name
        ));
    }
    Ok(())
}

/// Fields and size of a uniform struct against the Rust layout.
fn check_uniform(
    layout: &UniformLayout,
    fields: &[(String, u32, String)],
    size: u32,
) -> Result<(), String> {
    let rust = |f: &Field| format!("'{}' {} at offset {}", f.name, f.ty, f.offset);
    let wgsl = |f: &(String, u32, String)| format!("'{}' {} at offset {}", f.0, f.2, f.1);
    for (k, want) in layout.fields.iter().enumerate() {
        let Some(got) = fields.get(k) else {
            return Err(format!(
                "field {k} is {} in Rust ({}), missing in the shader",
                rust(want),
                layout.rust_name
            ));
        };
        if got.0 != want.name || got.1 as usize != want.offset || got.2 != want.ty {
            return Err(format!(
                "field {k} is {} in Rust ({}), {} in the shader",
                rust(want),
                layout.rust_name,
                wgsl(got)
            ));
        }
    }
    if let Some(extra) = fields.get(layout.fields.len()) {
        return Err(format!(
            "field {} is {} in the shader, missing in Rust ({})",
            layout.fields.len(),
            wgsl(extra),
            layout.rust_name
        ));
    }
    if size as usize != layout.size {
        return Err(format!(
            "the shader's struct is {size} bytes, Rust's {} is {}",
            layout.rust_name, layout.size
        ));
    }
    Ok(())
}

/// The group-0 bindings a module declares.
fn reflect(module: &naga::Module) -> Result<BTreeMap<u32, Found>, String> {
    let mut found = BTreeMap::new();
    for (_, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else {
            continue;
        };
        let name = var.name.clone().unwrap_or_default();
        if binding.group != 0 {
            return Err(format!(
                "'{name}' is in group {}; kernels use group 0 only",
                binding.group
            ));
        }
        let access = match var.space {
            naga::AddressSpace::Uniform => uniform_fields(module, var.ty)?,
            naga::AddressSpace::Storage { access }
                if access.contains(naga::StorageAccess::STORE) =>
            {
                FoundAccess::ReadWrite
            }
            naga::AddressSpace::Storage { .. } => FoundAccess::Read,
            other => return Err(format!("'{name}' is in address space {other:?}")),
        };
        if found
            .insert(
                binding.binding,
                Found {
                    name: name.clone(),
                    access,
                },
            )
            .is_some()
        {
            return Err(format!("binding {} is declared twice", binding.binding));
        }
    }
    Ok(found)
}

fn uniform_fields(
    module: &naga::Module,
    ty: naga::Handle<naga::Type>,
) -> Result<FoundAccess, String> {
    let naga::TypeInner::Struct { members, span } = &module.types[ty].inner else {
        return Err("a uniform that is not a struct".into());
    };
    let mut fields = Vec::new();
    for m in members {
        let ty = match &module.types[m.ty].inner {
            naga::TypeInner::Scalar(s) => match (s.kind, s.width) {
                (naga::ScalarKind::Uint, 4) => "u32",
                (naga::ScalarKind::Sint, 4) => "i32",
                (naga::ScalarKind::Float, 4) => "f32",
                _ => "other scalar",
            },
            _ => "not a scalar",
        };
        fields.push((m.name.clone().unwrap_or_default(), m.offset, ty.to_string()));
    }
    Ok(FoundAccess::Uniform(fields, *span))
}
