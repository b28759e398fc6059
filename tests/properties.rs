//! The fuzz targets' properties on the stable toolchain, so CI exercises the parsers too:
//! seeded random mutations (bit flips, overwritten bytes, truncations, duplicated runs) of the
//! fuzz corpus (`fuzz/corpus/`) go through the IDX reader, the model-spec parser, the
//! checkpoint loader and `predict`'s image path. Each gives an error or a well-formed result;
//! none panics. (`cargo +nightly fuzz run <target>` explores far more; see CONTRIBUTING.md.)

use std::path::{Path, PathBuf};

use shaderfit::data::idx;
use shaderfit::data::picture::{self, Invert};
use shaderfit::floor::rng::SplitMix64;
use shaderfit::floor::Shape;
use shaderfit::model::{checkpoint, ModelSpec, ParamLayout};
use shaderfit::train::state;

/// Mutations of each corpus file of `target`.
const CASES: usize = 2000;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// One random mutation of `seed`, as libFuzzer's simplest ones.
fn mutate(seed: &[u8], g: &mut SplitMix64) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + g.below(4) {
        if bytes.is_empty() {
            bytes.push(g.below(256) as u8);
            continue;
        }
        let at = g.below(bytes.len());
        match g.below(5) {
            0 => bytes[at] ^= 1 << g.below(8),
            1 => bytes[at] = [0, 0xff, 0x7f, 0x80][g.below(4)],
            2 => bytes.truncate(at),
            3 => {
                let end = (at + 1 + g.below(16)).min(bytes.len());
                let run = bytes[at..end].to_vec();
                bytes.splice(at..at, run);
            }
            _ => bytes[at] = g.below(256) as u8,
        }
    }
    bytes
}

/// Every mutation of every corpus file of `target`, each given to `check`.
fn for_each_mutation(target: &str, seed: u64, mut check: impl FnMut(&[u8])) {
    let mut g = SplitMix64::new(seed);
    for original in corpus(target) {
        check(&original);
        for _ in 0..CASES {
            check(&mutate(&original, &mut g));
        }
    }
}

#[test]
fn idx_reader_never_panics() {
    for_each_mutation("idx", 1, |data| {
        let path = Path::new("case.idx");
        let Ok(bytes) = idx::decompress(path, data.to_vec()) else {
            return;
        };
        if let Ok(images) = idx::images_from(path, &bytes) {
            assert_eq!(
                images.pixels.len(),
                images.count * images.rows * images.cols
            );
        }
        if let Ok(labels) = idx::labels_from(path, &bytes) {
            let _ = idx::check_labels(path, &labels, 10);
        }
    });
}

#[test]
fn model_spec_parser_never_panics_and_round_trips() {
    for_each_mutation("model_spec", 2, |data| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(spec) = ModelSpec::from_json("case", text) else {
            return;
        };
        let again = ModelSpec::from_json("case", &spec.to_json().to_string()).unwrap();
        assert_eq!(again.to_json(), spec.to_json());
        let _ = spec.compile(Shape::new(28, 28, 1), 10);
    });
}

#[test]
fn checkpoint_loader_never_panics_or_loads_non_finite_weights() {
    for_each_mutation("checkpoint", 3, |data| {
        let path = Path::new("case.safetensors");
        let Ok(info) = checkpoint::info_from(path, data) else {
            return;
        };
        if info.input.features() > 1 << 16 || info.classes > 1 << 10 {
            return;
        }
        let Ok(net) = info.spec.compile(info.input, info.classes) else {
            return;
        };
        if net.param_count() > 1 << 24 {
            return;
        }
        let layouts = (
            &ParamLayout::trainable(&net, 1),
            &ParamLayout::non_trainable(&net, 1),
        );
        if let Ok((params, _)) = checkpoint::load_from(path, data, layouts) {
            assert!(params.iter().flatten().all(|v| v.is_finite()));
        }
    });
}

/// The training-state reader on the same mutations, for a 12x12 linear model (the seed
/// `linear12.state.safetensors` is one's): an error, or a state whose values are in range and
/// whose settings read back or are refused with an error; never a panic.
#[test]
fn training_state_reader_never_panics_or_reads_values_out_of_range() {
    let net = ModelSpec::preset("linear", None, 10)
        .unwrap()
        .compile(Shape::new(12, 12, 1), 10)
        .unwrap();
    let trainable = ParamLayout::trainable(&net, 1);
    let mut read = 0;
    for_each_mutation("checkpoint", 5, |data| {
        let path = Path::new("case.state.safetensors");
        let Ok(s) = state::load_from(path, data, &trainable) else {
            return;
        };
        read += 1;
        assert!(s.lr_factor > 0.0 && s.lr_factor <= 1.0, "{}", s.lr_factor);
        assert!(s
            .optimizer
            .iter()
            .flatten()
            .flatten()
            .all(|v| v.is_finite()));
        let _ = s.settings("case.state.safetensors");
    });
    assert!(read > 0, "some mutations are still states");
}

#[test]
fn image_path_never_panics() {
    for_each_mutation("picture", 4, |data| {
        let fitted = picture::from_bytes(Path::new("case.png"), data, (28, 28), Invert::Auto);
        if let Ok(p) = fitted {
            assert_eq!(p.pixels.len(), 28 * 28);
        }
    });
}
