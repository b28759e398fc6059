//! `shaderfit export`: a checkpoint's inference graph as an ONNX model file, for ONNX Runtime
//! (Python, C, C#, Java, JavaScript in the browser) and every tool that reads ONNX.

use std::path::PathBuf;

use clap::Args;

use crate::data::DatasetKind;
use crate::error::{Error, Result};
use crate::model::{checkpoint, ParamLayout};
use crate::onnx::{self, ExportInfo};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint written by `shaderfit train --save`; it holds the model's spec.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Write the model as ONNX here: input float32 [N, H, W, C] (pixels / 255, channels last,
    /// the checkpoint's own shape: [N, 28, 28, 1] for MNIST, [N, 32, 32, 3] for RGB 32x32),
    /// output the class probabilities [N, classes].
    #[arg(long, value_name = "FILE.onnx")]
    pub onnx: PathBuf,
}

pub fn run(args: &ExportArgs) -> Result<()> {
    crate::output::check_writable("--onnx", &args.onnx)?;
    let info = checkpoint::load_info(&args.checkpoint)?;
    let net = info.spec.compile(info.input, info.classes)?;
    let weights = checkpoint::load(
        &args.checkpoint,
        &ParamLayout::trainable(&net, 1),
        &ParamLayout::non_trainable(&net, 1),
    )?;
    let kind = info.dataset.as_deref().and_then(DatasetKind::from_name);
    let classes = info.class_names.clone().unwrap_or_else(|| {
        (0..info.classes)
            .map(|c| kind.unwrap_or(DatasetKind::Mnist).class_name(c))
            .collect()
    });
    // The file's name only: a path would carry this machine's directories with the model.
    let name = args
        .checkpoint
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let mut extra: Vec<(String, String)> = name
        .map(|n| ("checkpoint".to_string(), n))
        .into_iter()
        .collect();
    extra.extend(
        info.dataset
            .iter()
            .map(|d| ("dataset".to_string(), d.clone())),
    );
    extra.extend(
        info.epoch
            .map(|e| ("epochs_trained".to_string(), e.to_string())),
    );
    extra.push(("model_spec".into(), info.spec.to_json().to_string()));
    let bytes = onnx::export(&net, &weights, &ExportInfo { classes, extra })
        .map_err(|e| Error::file(&args.checkpoint, format!("cannot export to ONNX: {e}")))?;
    crate::output::replace(&args.onnx, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes): {} ({} parameters), ONNX opset {}",
        args.onnx.display(),
        bytes.len(),
        info.spec.name,
        net.param_count(),
        onnx::OPSET
    );
    Ok(())
}
