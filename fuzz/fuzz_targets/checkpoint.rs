//! The checkpoint loader on arbitrary bytes: its metadata, then the weights for the model the
//! metadata describes; an error or finite weights of the right shapes, never a panic.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shaderfit::model::{checkpoint, ParamLayout};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
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
