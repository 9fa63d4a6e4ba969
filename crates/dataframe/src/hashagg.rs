//! A partition's partial aggregate by hashing, with the pieces polars'
//! streaming engine aggregates with: a `Grouper` that gives each row the
//! id of its key's group, and a `GroupedReduction` per aggregation that
//! folds the rows into per-group state as it goes.
//!
//! polars' in-memory `group_by` (the engine a lazy plan collects on
//! without its `new_streaming` feature) first builds each group's list of
//! row indices — on every thread of its pool, each scanning all rows for
//! the keys of its hash partition — and then gathers every aggregation's
//! values through those lists. For the partial aggregates of a groupby
//! (sums, counts, minima, maxima over a partition of millions of rows and
//! a few groups) that was an eighth of the taxi job's time; hashing once
//! and folding in place costs a fraction of it, on the task's own thread.
//!
//! Used for the aggregations whose partials are such reductions (sum,
//! mean, count, len, min, max); the others (first, last, n_unique,
//! var, std) keep the lazy `group_by`.

use std::sync::Arc;

use polars::prelude::{self as pl, Expr, IdxSize, LazyFrame, PolarsResult, Schema};
use polars_expr::groups::new_hash_grouper;
use polars_expr::hash_keys::HashKeys;
use polars_expr::reduce::{GroupedReduction, into_reduction};
use polars_plan::plans::{AExpr, ExprToIRContext, to_expr_ir};
use polars_utils::arena::Arena;

/// One partial aggregation: a reduction of an input expression.
#[derive(Clone, Debug)]
pub(crate) struct Partial {
    /// The values reduced; `None` for the group's row count.
    pub(crate) input: Option<Expr>,
    pub(crate) reduce: Reduce,
    /// The partial's column name.
    pub(crate) name: String,
}

/// The reductions computed by hashing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reduce {
    Sum,
    /// Non-null values; with `true`, all rows.
    Count(bool),
    Min,
    Max,
}

impl Partial {
    /// The same partial as a polars aggregation expression, for a lazy
    /// `group_by`.
    pub(crate) fn lazy(&self) -> Expr {
        match &self.input {
            Some(x) => self.reduce.expr(x.clone()),
            None => pl::len(),
        }
        .alias(self.name.as_str())
    }
}

impl Reduce {
    /// The same reduction as a polars expression of `x`.
    pub(crate) fn expr(self, x: Expr) -> Expr {
        match self {
            Reduce::Sum => x.sum(),
            Reduce::Count(true) => x.len(),
            Reduce::Count(false) => x.count(),
            Reduce::Min => x.min(),
            Reduce::Max => x.max(),
        }
    }
}

/// The partials of `lf` grouped by `keys`: the key columns, then one
/// column per partial, one row per group (in no particular order).
pub(crate) fn partial(
    lf: LazyFrame,
    keys: &[String],
    partials: &[Partial],
) -> PolarsResult<pl::DataFrame> {
    // Evaluate the keys and every input once, in one lazy select (so a
    // computed input gets polars' expression engine), then fold.
    let input_name = |k: usize| format!("__oxidask_in{k}");
    let mut select: Vec<Expr> = keys.iter().map(|k| pl::col(k.as_str())).collect();
    for (k, p) in partials.iter().enumerate() {
        if let Some(x) = &p.input {
            select.push(x.clone().alias(input_name(k)));
        }
    }
    let mut df = lf.select(select).collect()?;
    df.rechunk_mut();
    let key_df = df.select(keys.iter().map(String::as_str))?;
    let key_schema = Arc::new(key_df.schema().as_ref().clone());
    let n = df.height();

    let hashes = HashKeys::from_df(&key_df, Default::default(), true, false);
    let mut grouper = new_hash_grouper(key_schema.clone());
    let rows: Vec<IdxSize> = (0..n as IdxSize).collect();
    let mut group_of = Vec::with_capacity(n);
    // SAFETY: every index in `rows` is a row of `key_df`, from which the
    // hashes were made.
    #[allow(unsafe_code)]
    unsafe {
        grouper.insert_keys_subset(&hashes, &rows, Some(&mut group_of));
    }
    let groups = grouper.num_groups();

    let mut out = grouper.get_keys_in_group_order(&key_schema);
    for (k, p) in partials.iter().enumerate() {
        let values = match &p.input {
            Some(_) => df.column(&input_name(k))?.clone(),
            // A row count needs a column of the rows: the first key's.
            None => key_df.columns()[0].clone(),
        };
        let mut reduction = reduction(p.reduce, &values)?;
        reduction.resize(groups);
        // SAFETY: `rows` and `group_of` index `values` (a single chunk,
        // rechunked above) and the `groups` groups the reduction holds.
        #[allow(unsafe_code)]
        unsafe {
            reduction.update_groups_subset(&[&values], &rows, &group_of, 0)?;
        }
        let column = reduction.finalize()?.with_name(p.name.as_str().into());
        out.with_column(column.into())?;
    }
    Ok(out)
}

/// polars' grouped reduction for `reduce` over `values`, built as its
/// streaming engine builds one (from the aggregation's plan node), so
/// the partial's type is the one polars gives the same aggregation.
fn reduction(reduce: Reduce, values: &pl::Column) -> PolarsResult<Box<dyn GroupedReduction>> {
    let schema = Schema::from_iter([pl::Field::new(
        values.name().clone(),
        values.dtype().clone(),
    )]);
    let mut arena: Arena<AExpr> = Arena::new();
    let expr = reduce.expr(pl::col(values.name().clone()));
    let ir = to_expr_ir(expr, &mut ExprToIRContext::new(&mut arena, &schema))?;
    let (reduction, _inputs) = into_reduction(ir.node(), &mut arena, &schema, true)?;
    Ok(reduction)
}
