//! ONNX's messages, as prost generates them at build time from ONNX's official
//! `onnx.proto3` (`assets/onnx/onnx.proto3`, see `build.rs`): nothing here is written by hand.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
