//! Registered functions on polars frames for `map_partitions`, so a
//! frame's graph that calls them can run in the `run_graph` binary.

use oxidask::dataframe::polars::prelude::*;

/// Adds `per_mile` = fare / distance and the partition's row count.
#[oxidask::remote]
pub fn fare_per_mile(df: DataFrame) -> PolarsResult<DataFrame> {
    let rows = df.height() as u32;
    df.lazy()
        .with_columns([
            (col("fare_amount") / col("trip_distance")).alias("per_mile"),
            lit(rows).alias("rows_here"),
        ])
        .collect()
}

/// A record of the taxi data, registered so that frames and bags of it
/// convert on a cluster's workers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fare {
    /// How many rode.
    pub passenger_count: Option<i64>,
    /// The fare.
    pub fare_amount: f64,
}
oxidask::dataframe::register_frame_record!(Fare);
