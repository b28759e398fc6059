//! NPY arrays and NPZ archives as NumPy writes them (`np.save`, `np.savez`,
//! `np.savez_compressed`), for tests of the NPZ reader.

use std::io::Write;
use std::path::Path;

/// One NPY array of `values` shaped `shape`, as NumPy writes it.
pub fn npy<T: npyz::AutoSerialize + Copy>(values: &[T], shape: &[u64]) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    writer.extend(values.iter().copied()).unwrap();
    writer.finish().unwrap();
    out
}

/// An NPZ file of `arrays` (name, NPY bytes), stored or deflated as `np.savez` and
/// `np.savez_compressed` write them.
pub fn write_npz(path: &Path, arrays: &[(&str, Vec<u8>)], deflated: bool) {
    use zip::write::SimpleFileOptions;
    let method = match deflated {
        true => zip::CompressionMethod::Deflated,
        false => zip::CompressionMethod::Stored,
    };
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in arrays {
        let options = SimpleFileOptions::default().compression_method(method);
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}
