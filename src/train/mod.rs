//! Training: compiles a network, an optimizer and a batch size into a GPU-resident [`Plan`],
//! and runs epochs of it ([`Trainer`]).

pub mod bench;
pub mod metrics;
pub mod plan;
pub mod profile;
pub mod trainer;

pub use metrics::{EpochReport, Metric, Score};
pub use plan::Plan;
pub use profile::StepProfile;
pub use trainer::{TrainConfig, Trainer};
