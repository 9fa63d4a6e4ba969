//! The op of a bag stage whose tasks play several roles (accumulate's part
//! and carry, groupby's split and combine): it runs its typed closure in
//! this process and encodes as role, label and description, from which the
//! decoding side rebuilds the closure through the record registry.

use std::sync::Arc;

use oxidask_graph::{Op, OpError, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::agg::ValuesFn;

/// One op per role, shared by the tasks of that role.
pub(crate) struct StageOp<R, D> {
    /// The registry name its decoder is submitted under.
    pub name: &'static str,
    pub role: R,
    pub label: String,
    /// `None` when a step of the stage is a closure: the op cannot leave
    /// this process.
    pub desc: Option<Arc<D>>,
    pub run: ValuesFn,
}

impl<R, D> Op for StageOp<R, D>
where
    R: Serialize + Send + Sync + 'static,
    D: Serialize + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        self.name
    }

    fn label(&self) -> &str {
        &self.label
    }

    fn call(&self, args: Vec<Value>) -> Result<Value, OpError> {
        (self.run)(args)
    }

    fn encode(&self) -> Option<Vec<u8>> {
        let desc = self.desc.as_ref()?;
        postcard::to_stdvec(&(&self.role, &self.label, &**desc)).ok()
    }
}

/// Reads the role, label and description [`StageOp::encode`] wrote.
pub(crate) fn decode_stage<R: DeserializeOwned, D: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(R, String, D), String> {
    postcard::from_bytes(bytes).map_err(|e| e.to_string())
}
