//! The light-curve workload's tests.

mod explore;
