//! Predicate pushdown into Parquet row groups: a row group whose min/max
//! statistics show that a filter keeps none of its rows is not read.
//!
//! Only what is certain is used. The filters are the frame's leading
//! `filter` steps (before any step that could change what a column name
//! means); each is split at `&`, and a conjunct prunes only when it is
//! `col(c) <op> literal` (or the literal first) with `op` one of `==`,
//! `<`, `<=`, `>`, `>=`. Anything else keeps the row group. The
//! comparison of the statistics with the literal is done by polars itself
//! (a one-row frame of min and max), so types compare as they would in
//! the filter.
//!
//! Floats: Parquet writers leave NaN out of min/max, while polars orders
//! NaN above every number, so `x > v` may hold for a NaN the statistics
//! do not show; `>`/`>=` never prune a float column.

use polars::prelude::{self as pl, DataType, Expr, IntoLazy, Operator, col};
use polars_io::parquet::metadata::{ParquetStatistics, deserialize};
use polars_io::parquet::read::{FileMetadata, infer_schema};

use crate::plan::Step;

/// `col(name) op value`, the op already turned so the column is on the
/// left.
struct Bound {
    column: String,
    op: Operator,
    value: Expr,
}

/// The conjuncts of the leading filters that can prune.
fn bounds(steps: &[Step]) -> Vec<Bound> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Filter(e) => conjuncts(e, &mut out),
            // Steps after which a column name still means the source's
            // column, so later filters still speak of it.
            Step::Select(es) if es.iter().all(|e| matches!(e, Expr::Column(_))) => {}
            Step::Drop(_) | Step::DropNulls(_) | Step::Head(_) => {}
            _ => break,
        }
    }
    out
}

fn conjuncts(e: &Expr, out: &mut Vec<Bound>) {
    let Expr::BinaryExpr { left, op, right } = e else {
        return;
    };
    if matches!(op, Operator::And | Operator::LogicalAnd) {
        conjuncts(left, out);
        conjuncts(right, out);
        return;
    }
    let flipped = match op {
        Operator::Eq => Operator::Eq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        _ => return,
    };
    match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), v @ Expr::Literal(_)) => out.push(Bound {
            column: c.to_string(),
            op: *op,
            value: v.clone(),
        }),
        (v @ Expr::Literal(_), Expr::Column(c)) => out.push(Bound {
            column: c.to_string(),
            op: flipped,
            value: v.clone(),
        }),
        _ => {}
    }
}

/// Whether row group `rg` of a file cannot hold a row that `steps`'
/// leading filters keep. `false` whenever that is not certain.
pub(super) fn rules_out(steps: &[Step], meta: &FileMetadata, rg: usize) -> Result<bool, String> {
    let bounds = bounds(steps);
    if bounds.is_empty() {
        return Ok(false);
    }
    let Some(row_group) = meta.row_groups.get(rg) else {
        return Ok(false);
    };
    let arrow = infer_schema(meta).map_err(|e| e.to_string())?;
    for b in &bounds {
        let Some(field) = arrow.get(b.column.as_str()) else {
            continue;
        };
        let Some(mut chunks) = row_group.columns_under_root_iter(&b.column) else {
            continue;
        };
        let stats = deserialize(field, &mut chunks, &meta.footer_buf)
            .map_err(|e| format!("statistics of column {:?}: {e}", b.column))?;
        let Some(ParquetStatistics::Column(stats)) = stats else {
            continue;
        };
        let stats = stats
            .into_arrow()
            .map_err(|e| format!("statistics of column {:?}: {e}", b.column))?;
        let (Some(min), Some(max)) = (stats.min_value, stats.max_value) else {
            continue;
        };
        let min = pl::Series::from_arrow("min".into(), min).map_err(|e| e.to_string())?;
        let max = pl::Series::from_arrow("max".into(), max).map_err(|e| e.to_string())?;
        if min.len() != 1 || max.len() != 1 || min.null_count() + max.null_count() > 0 {
            continue;
        }
        let float = matches!(min.dtype(), DataType::Float32 | DataType::Float64);
        let v = b.value.clone();
        let possible = match b.op {
            Operator::Eq if !float => col("min").lt_eq(v.clone()).and(col("max").gt_eq(v)),
            Operator::Lt => col("min").lt(v),
            Operator::LtEq => col("min").lt_eq(v),
            Operator::Gt if !float => col("max").gt(v),
            Operator::GtEq if !float => col("max").gt_eq(v),
            _ => continue,
        };
        let frame = pl::DataFrame::new(1, vec![pl::Column::from(min), pl::Column::from(max)])
            .map_err(|e| e.to_string())?;
        // A comparison polars cannot make (a string literal against a
        // number) keeps the row group: the filter itself will say why.
        let Ok(out) = frame.lazy().select([possible.alias("possible")]).collect() else {
            continue;
        };
        let possible = out
            .column("possible")
            .ok()
            .and_then(|c| c.bool().ok().and_then(|b| b.get(0)));
        if possible == Some(false) {
            return Ok(true);
        }
    }
    Ok(false)
}
