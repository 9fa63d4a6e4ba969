//! Reading and writing files: `read_text`, `read_json_lines`, `to_textfiles`.

mod block;
mod json;
mod paths;
mod source;
mod text;
mod write;

pub use json::{
    BadLines, JsonOptions, MAX_BAD_LINE_EXAMPLES, read_json_lines, read_json_lines_with,
};
pub use paths::IntoPaths;
pub(crate) use source::{BlockSpec, LineMode, file_blocks, json_feed, text_feed};
pub use text::{DEFAULT_BLOCKSIZE, TextOptions, read_text, read_text_with};
pub(crate) use write::write_text;

#[cfg(test)]
mod tests;
