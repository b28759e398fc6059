//! The IDX reader on arbitrary bytes (gzip or raw): an error or a well-formed file, never a
//! panic, and sizes that agree with the header.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shaderfit::data::idx;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    let Ok(bytes) = idx::decompress(path, data.to_vec()) else { return };
    if let Ok(images) = idx::images_from(path, &bytes) {
        assert_eq!(images.pixels.len(), images.count * images.rows * images.cols);
    }
    if let Ok(labels) = idx::labels_from(path, &bytes) {
        let _ = idx::check_labels(path, &labels, 10);
    }
});
