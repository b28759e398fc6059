//! Training: compiles a network, an optimizer and a batch size into a GPU-resident [`Plan`],
//! and runs epochs of it ([`Trainer`]), with metrics as GPU-side accumulators ([`metrics`])
//! and what runs between epochs as callbacks ([`callbacks`]).

pub mod bench;
pub mod callbacks;
pub mod compare;
pub mod epoch_report;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod plan;
pub mod predict;
pub mod profile;
pub mod run_settings;
pub mod state;
pub mod trainer;
pub mod tta;

pub use callbacks::{
    check_history_path, Callback, Control, EarlyStopping, FitSummary, History, Monitor,
    ReduceLrOnPlateau, SaveCheckpoint, StopAtAccuracy,
};
pub use epoch_report::{test_line, tta_line, EpochReport};
pub use live::{Phase, Progress, Running};
pub use metrics::{Accumulator, CountMatrix, MetricValue, Pass, PassMetrics, Score};
pub use plan::Plan;
pub use predict::predict;
pub use profile::StepProfile;
pub use trainer::{TrainConfig, Trainer, WeightsCopy};
pub use tta::{Tta, TtaResult};
