//! `predict`'s image path on arbitrary bytes: decoded, inverted and fitted into 28x28, or an
//! error naming the file; never a panic.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shaderfit::data::picture::{self, Invert};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = picture::from_bytes(Path::new("fuzz.png"), data, (28, 28), Invert::Auto) {
        assert_eq!(p.pixels.len(), 28 * 28);
    }
});
