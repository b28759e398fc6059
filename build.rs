//! Enables the bundled MNIST (`cfg(bundled_mnist)`) when the `bundled-mnist` feature is on and
//! `assets/mnist` holds its four files: a git checkout has them; the published package, which
//! leaves them out (11.6 MB), builds without.

use std::path::Path;

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bundled_mnist)");
    println!("cargo::rerun-if-changed=assets/mnist");
    if std::env::var_os("CARGO_FEATURE_BUNDLED_MNIST").is_none() {
        return;
    }
    let dir = Path::new("assets/mnist");
    if FILES.iter().all(|f| dir.join(f).is_file()) {
        println!("cargo::rustc-cfg=bundled_mnist");
    } else {
        println!(
            "cargo::warning=assets/mnist lacks the MNIST files: building without the bundled MNIST"
        );
    }
}
