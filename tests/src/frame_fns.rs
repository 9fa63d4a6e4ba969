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

/// Day `day`'s trips as a frame: a loader whose calls become a frame's
/// partitions through `from_delayed`, on a cluster's workers.
#[oxidask::remote]
pub fn day_trips(day: i64) -> oxidask::dataframe::Frame {
    let trips: Vec<i64> = (0..day).map(|t| day * 10 + t).collect();
    df!("day" => vec![day; trips.len()], "trips" => trips)
        .expect("columns of one length")
        .into()
}
