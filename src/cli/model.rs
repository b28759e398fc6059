//! `shaderfit summary` and `shaderfit model show`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::{Error, Result};
use crate::floor::Shape;
use crate::model::summary::summary;
use crate::model::ModelSpec;
use crate::report::diagram::ModelDiagram;
use crate::report::figure;

/// Shape and classes a model is shown with when no data is given: MNIST's.
const DEFAULT_INPUT: Shape = Shape { h: 28, w: 28, c: 1 };
const DEFAULT_CLASSES: usize = 10;

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// A preset or a JSON model file.
    #[arg(long, default_value = "mlp")]
    pub model: String,
    /// Input as HEIGHTxWIDTHxCHANNELS (default: the model file's "input", else 28x28x1).
    #[arg(long)]
    pub input: Option<String>,
    /// Classes of the softmax output of a preset.
    #[arg(long, default_value_t = DEFAULT_CLASSES)]
    pub classes: usize,
    /// Also draw the model as keras.utils.plot_model(model, show_shapes=True) does: a box per
    /// layer with its input and output shapes and parameters, to FILE (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub diagram: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Print a preset (or a model file, normalised) as JSON that --model accepts back.
    Show {
        /// A preset or a JSON model file.
        model: String,
        #[arg(long, default_value_t = DEFAULT_CLASSES)]
        classes: usize,
    },
}

fn parse_input(text: &str) -> Result<Shape> {
    Shape::parse(text).map_err(|e| Error::flag("--input", e))
}

pub fn summary_command(args: &SummaryArgs) -> Result<()> {
    let spec = ModelSpec::from_arg(&args.model, None, args.classes)?;
    let input = match (&args.input, spec.input) {
        (Some(text), _) => parse_input(text)?,
        (None, Some([h, w, c])) => Shape::new(h, w, c),
        (None, None) => DEFAULT_INPUT,
    };
    let net = spec.compile(input, args.classes)?;
    if let Some(path) = &args.diagram {
        crate::output::check_writable("--diagram", path)?;
        figure::save_as(&ModelDiagram::of(&net), path, "--diagram")?;
    }
    print!("{}", summary(&net));
    if let Some(path) = &args.diagram {
        println!("diagram: {}", path.display());
    }
    Ok(())
}

pub fn model_command(cmd: &ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Show { model, classes } => {
            let spec = ModelSpec::from_arg(model, None, *classes)?;
            // A serde_json::Value always serialises (its map keys are strings).
            let text =
                serde_json::to_string_pretty(&spec.to_json()).expect("a JSON value serialises");
            println!("{text}");
            Ok(())
        }
    }
}
