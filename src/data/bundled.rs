//! MNIST compiled into the binary (the `bundled-mnist` feature, on by default), so that a
//! fresh clone trains with no download. `build.rs` enables it only when the feature is on
//! and `assets/mnist` holds the files (the published package leaves them out).

/// The four original `.gz` files, in `FILE_STEMS` order.
#[cfg(bundled_mnist)]
pub const MNIST: Option<[&[u8]; 4]> = Some([
    include_bytes!("../../assets/mnist/train-images-idx3-ubyte.gz"),
    include_bytes!("../../assets/mnist/train-labels-idx1-ubyte.gz"),
    include_bytes!("../../assets/mnist/t10k-images-idx3-ubyte.gz"),
    include_bytes!("../../assets/mnist/t10k-labels-idx1-ubyte.gz"),
]);

#[cfg(not(bundled_mnist))]
pub const MNIST: Option<[&[u8]; 4]> = None;
