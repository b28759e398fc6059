//! Training: a [`Trainer`] is an [`crate::eval::Evaluator`] (weights, metrics, evaluation
//! passes) plus the training step, compiled with a batch size into a GPU-resident [`Plan`];
//! it runs epochs of it, with what runs between epochs as callbacks ([`callbacks`]) that see
//! the run through a narrow handle ([`callbacks::FitHandle`]).

pub mod bench;
pub mod callbacks;
pub mod compare;
pub mod config;
pub mod epoch_report;
pub mod limits;
pub mod live;
pub mod plan;
pub mod profile;
pub mod record;
pub mod run_settings;
pub mod setup;
pub mod state;
pub mod trainer;

pub use callbacks::{
    check_history_path, Callback, Control, EarlyStopping, FitHandle, FitSummary, History, Monitor,
    ReduceLrOnPlateau, SaveCheckpoint, StopAtAccuracy,
};
pub use config::TrainConfig;
pub use epoch_report::{test_line, tta_line, EpochReport};
pub use live::{Phase, Progress, Running};
pub use plan::Plan;
pub use profile::StepProfile;
pub use trainer::Trainer;
