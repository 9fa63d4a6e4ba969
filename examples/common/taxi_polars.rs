//! The taxi job's reference in plain polars, shared by the tour and the
//! taxi example: each file read whole (polars' multi-threaded CSV reader,
//! the two columns only), stacked — what a user without oxidask writes
//! first.

use std::path::PathBuf;

use oxidask::dataframe::polars::prelude::*;
use oxidask::dataframe::polars_io::csv::read::CsvReadOptions;

/// `passenger_count` and `tip_amount` of every file, stacked in order.
pub fn read_tips(paths: &[PathBuf]) -> Result<DataFrame, Box<dyn std::error::Error>> {
    let mut all: Option<DataFrame> = None;
    for p in paths {
        let df = CsvReadOptions::default()
            .with_columns(Some(std::sync::Arc::from([
                PlSmallStr::from("passenger_count"),
                PlSmallStr::from("tip_amount"),
            ])))
            .try_into_reader_with_file_path(Some(p.clone()))?
            .finish()?;
        match &mut all {
            None => all = Some(df),
            Some(a) => {
                a.vstack_mut_owned(df)?;
            }
        }
    }
    Ok(all.ok_or("no taxi files")?)
}
