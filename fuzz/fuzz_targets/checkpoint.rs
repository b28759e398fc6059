//! The checkpoint loader on arbitrary bytes: its metadata, then the weights for the model the
//! metadata describes; an error or finite weights of the right shapes, never a panic. The
//! same bytes as the training state of a 12x12 linear model (the seed `linear12`'s): an error
//! or a state whose every value is in range, its settings read back or refused, never a panic.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shaderfit::floor::Shape;
use shaderfit::model::{checkpoint, ModelSpec, ParamLayout};
use shaderfit::train::state;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    training_state(data);
    let Ok(info) = checkpoint::info_from(path, data) else { return };
    // Keep compiled models small: a spec may ask for any size.
    if info.input.features() > 1 << 16 || info.classes > 1 << 10 {
        return;
    }
    let Ok(net) = info.spec.compile(info.input, info.classes) else { return };
    if net.param_count() > 1 << 24 {
        return;
    }
    let layouts = (&ParamLayout::trainable(&net, 1), &ParamLayout::non_trainable(&net, 1));
    if let Ok((params, _)) = checkpoint::load_from(path, data, layouts) {
        assert!(params.iter().flatten().all(|v| v.is_finite()));
    }
});

fn training_state(data: &[u8]) {
    let spec = ModelSpec::preset("linear", None, 10).expect("a preset");
    let net = spec.compile(Shape::new(12, 12, 1), 10).expect("it compiles");
    let path = Path::new("fuzz.state.safetensors");
    let Ok(s) = state::load_from(path, data, &ParamLayout::trainable(&net, 1)) else { return };
    assert!(s.lr_factor > 0.0 && s.lr_factor <= 1.0);
    assert!(s.optimizer.iter().flatten().flatten().all(|v| v.is_finite()));
    let _ = s.settings("fuzz.state.safetensors");
}
