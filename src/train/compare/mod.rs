//! Comparisons: runs that differ in some of their settings (the axes: models, optimizers,
//! learning rates, or any other setting of [`crate::settings::RunSettings`], or a recipe), each
//! set up as `train` sets its run up, trained from the same seed and scored on the test set,
//! then ranked by the best validation accuracy. A sweep is the comparison over optimizers and
//! learning rates. Shards split the runs over machines; results are JSON, so shards merge;
//! finished runs' history files (their run records) compare too.
//!
//! One job per module: the runs and their settings ([`runs`]), training one
//! ([`train`](mod@train)), how it went ([`outcome`]), the JSON file and the merge of shards
//! ([`file`](mod@file)), the table ([`table`](mod@table)).

pub mod file;
pub mod outcome;
pub mod runs;
pub mod table;
pub mod train;

pub use file::CompareFile;
pub use outcome::{rank, Outcome, TestOutcome};
pub use runs::{
    axis_keys, check_axis_key, check_grid_size, first_identical, grid, name_axis, settings_of,
    shard, show_values, Axis, Run, MAX_RUNS, RECIPE,
};
pub use table::{differing, labels, table};
pub use train::train;
