//! Enables the bundled MNIST (`cfg(bundled_mnist)`) when the `bundled-mnist` feature is on and
//! `assets/mnist` holds its four files: a git checkout has them; the published package, which
//! leaves them out (11.6 MB), builds without. Generates ONNX's messages (`$OUT_DIR/onnx.rs`)
//! from the official `assets/onnx/onnx.proto3` with prost, compiled by protox (a Rust protobuf
//! compiler, so no `protoc` need be installed).

use std::path::Path;

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

fn main() {
    onnx_messages();
    bundled_mnist();
}

/// prost's types for ONNX's `onnx.proto3` (package `onnx`, so `$OUT_DIR/onnx.rs`).
fn onnx_messages() {
    let proto = "assets/onnx/onnx.proto3";
    println!("cargo::rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["assets/onnx"]).expect("onnx.proto3 compiles");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("prost generates ONNX's messages");
}

fn bundled_mnist() {
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
