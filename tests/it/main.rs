//! oxidask integration tests: one binary for the whole workspace (link time
//! on two cores is the bottleneck).

mod array;
mod bag;
mod bag_accumulate;
mod bag_folds;
mod bag_keyed;
mod bag_text;
mod cluster_ops;
mod compute_many;
mod dags;
mod dashboard;
mod dataframe;
mod distributed;
mod failures;
mod memory;
mod nycflights;
mod other_process;
mod remote;
mod shuffle;
mod sizes;
mod values_cross;
mod visualize;
