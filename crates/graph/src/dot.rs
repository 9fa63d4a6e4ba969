//! Pictures of graphs: Graphviz DOT text and SVG files.
//!
//! [`TaskGraph::to_dot`] draws one box per task, labelled with its op and a
//! short form of its key (`(sum-3f2a1b, 0)`: the token cut to six digits;
//! the full key is the node's tooltip), and one edge from each dependency to
//! its dependent. Literal tasks are filled boxes; keys read but missing from
//! the graph are dashed boxes, so a broken graph can still be drawn.
//! [`HighLevelGraph::to_dot`] draws one box per layer with its task count.
//! The text is deterministic: the same graph gives the same bytes, so
//! pictures can be diffed and tested.
//!
//! `visualize` writes an SVG file with Graphviz's `dot` when it is on PATH,
//! and otherwise with the pure-Rust layout-rs renderer. That renderer is
//! slow on large graphs and may panic on input it does not expect, so it is
//! refused above [`MAX_BUILTIN_NODES`] nodes and its panics are caught and
//! returned as errors.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use indexmap::IndexMap;

use crate::graph::TaskGraph;
use crate::hlg::HighLevelGraph;
use crate::key::Key;

/// The most nodes the built-in renderer is asked to draw; larger graphs need
/// Graphviz (or culling first).
///
/// layout-rs's time grows about with the cube of a rank's width: measured
/// (release build) a map over 250 partitions (500 nodes) takes about 1 s,
/// over 500 partitions 12 s, over 1,000 partitions 90 s. A picture of more
/// than a few hundred boxes is unreadable anyway.
pub const MAX_BUILTIN_NODES: usize = 500;

/// Which renderer drew the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VisualizeBackend {
    /// The Graphviz `dot` executable found on PATH.
    Graphviz,
    /// The built-in pure-Rust renderer (layout-rs).
    Builtin,
}

/// A picture that could not be written: the file it was for and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the graph to {}: {kind}", path.display())]
pub struct VisualizeError {
    /// The file that was to be written.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: VisualizeErrorKind,
}

/// Why a picture could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VisualizeErrorKind {
    /// Too many nodes for the built-in renderer, and Graphviz is not installed.
    #[error(
        "the graph has {nodes} {unit}, more than the {limit} the built-in renderer draws; \
         cull it to the outputs you want to see, or install Graphviz so that `dot` is on PATH"
    )]
    TooLarge {
        /// Nodes the picture would have.
        nodes: usize,
        /// What a node stands for: `tasks` or `layers`.
        unit: &'static str,
        /// [`MAX_BUILTIN_NODES`].
        limit: usize,
    },
    /// Graphviz `dot` ran and failed.
    #[error("Graphviz `dot` failed: {0}")]
    Graphviz(String),
    /// The built-in renderer failed or panicked.
    #[error("the built-in renderer (layout-rs) failed: {0}")]
    Builtin(String),
    /// The file could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl TaskGraph {
    /// The graph in Graphviz DOT, for pictures and debugging: one box per
    /// task labelled with its op and a short form of its key (`(sum-3f2a1b,
    /// 0)`: long tokens cut to six digits; the full key is the tooltip), and
    /// an edge from each dependency to its dependent. Literal tasks are
    /// filled; keys read but missing from the graph are dashed boxes. The
    /// same graph always gives the same text.
    pub fn to_dot(&self) -> String {
        // Keys read but not in the graph get their own (dashed) nodes, m0, m1…
        let mut missing: IndexMap<&Key, usize> = IndexMap::new();
        for (_, task) in self.iter() {
            for dep in task.dependencies() {
                if !self.contains(dep) && !missing.contains_key(dep) {
                    missing.insert(dep, missing.len());
                }
            }
        }
        let mut out = String::from("digraph {\n  node [shape=box];\n");
        for (id, (key, task)) in self.iter().enumerate() {
            let (label, style) = if task.is_literal() {
                (format!("literal\n{}", short_key(key)), ", style=filled")
            } else {
                (format!("{}\n{}", task.op.label(), short_key(key)), "")
            };
            node(&mut out, &format!("n{id}"), &label, &key.to_string(), style);
        }
        for (key, m) in &missing {
            let label = format!("missing\n{}", short_key(key));
            node(
                &mut out,
                &format!("m{m}"),
                &label,
                &key.to_string(),
                ", style=dashed",
            );
        }
        for (id, (_, task)) in self.iter().enumerate() {
            let mut drawn: Vec<String> = Vec::new();
            for dep in task.dependencies() {
                let from = match self.id_of(dep) {
                    Some(j) => format!("n{j}"),
                    None => format!("m{}", missing[dep]),
                };
                if !drawn.contains(&from) {
                    let _ = writeln!(out, "  {from} -> n{id};");
                    drawn.push(from);
                }
            }
        }
        out.push_str("}\n");
        out
    }

    /// Draws the graph to an SVG file at `path` (Graphviz if installed,
    /// else the built-in renderer up to [`MAX_BUILTIN_NODES`] tasks) and
    /// says which renderer drew it. Cull the graph first to see only what
    /// some outputs need.
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<VisualizeBackend, VisualizeError> {
        write_svg(&self.to_dot(), self.len(), "tasks", path.as_ref())
    }
}

impl HighLevelGraph {
    /// The graph in Graphviz DOT at layer granularity: one box per layer
    /// with its kind and task count, edges from each layer to the layers
    /// reading it.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph {\n  node [shape=box];\n");
        let deps = self.layer_dependencies();
        let position: IndexMap<&str, usize> = deps
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (*name, i))
            .collect();
        for (i, layer) in self.layers().enumerate() {
            let n = layer.len();
            let label = format!(
                "{}\n{}, {n} task{}",
                short_name(layer.name()),
                layer.kind(),
                if n == 1 { "" } else { "s" }
            );
            node(&mut out, &format!("l{i}"), &label, layer.name(), "");
        }
        for (i, (_, reads)) in deps.iter().enumerate() {
            for name in reads {
                let _ = writeln!(out, "  l{} -> l{i};", position[name]);
            }
        }
        out.push_str("}\n");
        out
    }

    /// Draws the layers to an SVG file at `path`, like
    /// [`TaskGraph::visualize`] but one node per layer.
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<VisualizeBackend, VisualizeError> {
        write_svg(&self.to_dot(), self.num_layers(), "layers", path.as_ref())
    }
}

fn node(out: &mut String, id: &str, label: &str, tooltip: &str, style: &str) {
    let _ = writeln!(
        out,
        "  {id} [label=\"{}\", tooltip=\"{}\"{style}];",
        escape(label),
        escape(tooltip)
    );
}

/// Escapes text for a double-quoted DOT string: quotes and backslashes get a
/// backslash, newlines become `\n`, other control characters (which would
/// end the string for some parsers) become `?`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// `sum-3f2a1b` for `sum-3f2a1b0c…`: a token of 16 or more hex digits is cut
/// to six, enough to tell layers apart in one picture.
fn short_name(name: &str) -> &str {
    match name.rfind('-') {
        Some(i) => {
            let token = &name[i + 1..];
            if token.len() >= 16 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
                &name[..i + 7]
            } else {
                name
            }
        }
        None => name,
    }
}

/// `(sum-3f2a1b, 0, 1)`, or `sum-3f2a1b` for a key without an index.
fn short_key(key: &Key) -> String {
    let name = short_name(key.name());
    if key.index().is_empty() {
        return name.to_string();
    }
    let mut s = format!("({name}");
    for i in key.index() {
        let _ = write!(s, ", {i}");
    }
    s.push(')');
    s
}

fn write_svg(
    dot: &str,
    nodes: usize,
    unit: &'static str,
    path: &Path,
) -> Result<VisualizeBackend, VisualizeError> {
    let fail = |kind| VisualizeError {
        path: path.to_path_buf(),
        kind,
    };
    let (svg, backend) = match render_graphviz(dot) {
        Some(svg) => (svg.map_err(fail)?, VisualizeBackend::Graphviz),
        None if nodes > MAX_BUILTIN_NODES => {
            return Err(fail(VisualizeErrorKind::TooLarge {
                nodes,
                unit,
                limit: MAX_BUILTIN_NODES,
            }));
        }
        None => (
            render_builtin(dot).map_err(fail)?.into_bytes(),
            VisualizeBackend::Builtin,
        ),
    };
    std::fs::write(path, svg).map_err(|e| fail(e.into()))?;
    Ok(backend)
}

/// Runs `dot -Tsvg`; `None` when it is not installed.
fn render_graphviz(dot: &str) -> Option<Result<Vec<u8>, VisualizeErrorKind>> {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let msg = format!("cannot start it: {e}");
            return Some(Err(VisualizeErrorKind::Graphviz(msg)));
        }
    };
    // dot reads its whole input before writing anything, so writing first
    // and reading after cannot deadlock. A write error means dot exited
    // early; its status and stderr below say why.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(dot.as_bytes());
    }
    Some(match child.wait_with_output() {
        Ok(out) if out.status.success() => Ok(out.stdout),
        Ok(out) => Err(VisualizeErrorKind::Graphviz(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) => Err(VisualizeErrorKind::Graphviz(e.to_string())),
    })
}

/// Lays out and renders with layout-rs, turning its panics into errors.
fn render_builtin(dot: &str) -> Result<String, VisualizeErrorKind> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};

    let result = std::panic::catch_unwind(|| -> Result<String, String> {
        let ast = DotParser::new(dot).process()?;
        let mut builder = GraphBuilder::new();
        builder.visit_graph(&ast);
        let mut graph = builder.get();
        if graph.num_nodes() == 0 {
            return Ok(EMPTY_SVG.to_string());
        }
        let mut svg = SVGWriter::new();
        graph.do_it(false, false, false, &mut svg);
        Ok(svg.finalize())
    });
    match result {
        Ok(Ok(svg)) => Ok(svg),
        Ok(Err(msg)) => Err(VisualizeErrorKind::Builtin(format!(
            "cannot parse DOT: {msg}"
        ))),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-string payload".into());
            Err(VisualizeErrorKind::Builtin(format!("it panicked: {msg}")))
        }
    }
}

/// What an empty graph looks like (layout-rs has nothing to lay out).
const EMPTY_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"40\">\
<text x=\"10\" y=\"25\">empty graph</text></svg>\n";

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::hlg::{BlockArg, BlockwiseLayer, MaterializedLayer};
    use crate::op::FnOp;
    use crate::task::Task;
    use crate::value::Value;

    fn op(name: &str) -> Arc<dyn crate::Op> {
        FnOp::arc(name, |mut args| Ok(args.remove(0)))
    }

    /// x (literal) → y = double(x) → z = add(x, y), with a tokenized name.
    fn small() -> (TaskGraph, Key) {
        let z = Key::with_index("add-0123456789abcdef0123456789abcdef", &[0, 1]);
        let mut g = TaskGraph::new();
        g.insert(Key::new("x"), Task::literal(Value::new(1i64)));
        g.insert(
            Key::new("y"),
            Task::new(op("double"), vec![Key::new("x").into()]),
        );
        let args = vec![
            Key::new("x").into(),
            Key::new("y").into(),
            Key::new("x").into(),
        ];
        g.insert(z.clone(), Task::new(op("add"), args));
        (g, z)
    }

    fn has_graphviz() -> bool {
        Command::new("dot").arg("-V").output().is_ok()
    }

    #[test]
    fn dot_has_every_task_and_edge_once() {
        let (g, _) = small();
        let dot = g.to_dot();
        assert!(dot.starts_with("digraph {\n"), "{dot}");
        assert!(
            dot.contains(r#"n0 [label="literal\nx", tooltip="'x'", style=filled];"#),
            "{dot}"
        );
        assert!(
            dot.contains(r#"n1 [label="double\ny", tooltip="'y'"];"#),
            "{dot}"
        );
        assert!(dot.contains(r#"label="add\n(add-012345, 0, 1)""#), "{dot}");
        assert!(dot.contains(r#"tooltip="('add-0123456789abcdef0123456789abcdef', 0, 1)""#));
        for edge in ["n0 -> n1;", "n0 -> n2;", "n1 -> n2;"] {
            assert_eq!(dot.matches(edge).count(), 1, "{edge} in {dot}");
        }
        assert_eq!(dot.matches("->").count(), 3, "{dot}");
        assert_eq!(dot, small().0.to_dot(), "deterministic");
    }

    #[test]
    fn labels_are_escaped_and_missing_keys_drawn() {
        let mut g = TaskGraph::new();
        let odd = Key::new("say \"hi\" \\ bye\u{0}");
        g.insert(odd.clone(), Task::alias(Key::new("ghost")));
        let dot = g.to_dot();
        assert!(dot.contains(r#"say \"hi\" \\ bye?"#), "{dot}");
        assert!(dot.contains(r#"m0 [label="missing\nghost""#), "{dot}");
        assert!(dot.contains("m0 -> n0;"), "{dot}");
        // The built-in parser reads the escapes back.
        let path =
            std::env::temp_dir().join(format!("oxidask-dot-quote-{}.svg", std::process::id()));
        g.visualize(&path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.contains("say &quot;hi&quot; \\ bye?"), "{svg}");
    }

    #[test]
    fn visualize_writes_an_svg() {
        let (g, _) = small();
        let dir = std::env::temp_dir();
        let path = dir.join(format!("oxidask-dot-small-{}.svg", std::process::id()));
        let backend = g.visualize(&path).unwrap();
        let expected = if has_graphviz() {
            VisualizeBackend::Graphviz
        } else {
            VisualizeBackend::Builtin
        };
        assert_eq!(backend, expected);
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("double"), "{svg}");

        let empty = dir.join(format!("oxidask-dot-empty-{}.svg", std::process::id()));
        TaskGraph::new().visualize(&empty).unwrap();
        let svg = std::fs::read_to_string(&empty).unwrap();
        let _ = std::fs::remove_file(&empty);
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    }

    #[test]
    fn an_unwritable_path_is_named() {
        let (g, _) = small();
        let path = Path::new("/nonexistent-oxidask-dir/graph.svg");
        let e = g.visualize(path).unwrap_err();
        assert!(matches!(e.kind, VisualizeErrorKind::Io(_)), "{e:?}");
        assert!(
            e.to_string().contains("/nonexistent-oxidask-dir/graph.svg"),
            "{e}"
        );
    }

    #[test]
    fn large_graphs_need_graphviz() {
        let mut g = TaskGraph::new();
        for i in 0..=MAX_BUILTIN_NODES as u32 {
            g.insert(Key::with_index("x", &[i]), Task::literal(Value::new(i)));
        }
        let path = Path::new("/nonexistent-oxidask-dir/large.svg");
        let e = g.visualize(path).unwrap_err();
        if has_graphviz() {
            assert!(matches!(e.kind, VisualizeErrorKind::Io(_)), "{e:?}");
        } else {
            let msg = e.to_string();
            assert!(
                msg.contains("501 tasks") && msg.contains("install Graphviz"),
                "{msg}"
            );
            assert!(msg.contains("large.svg"), "{msg}");
        }
    }

    #[test]
    fn high_level_dot_has_one_node_per_layer() {
        let mut x = TaskGraph::new();
        x.insert(Key::with_index("x", &[0]), Task::literal(Value::new(1i64)));
        x.insert(Key::with_index("x", &[1]), Task::literal(Value::new(2i64)));
        let hlg = HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new("x", x)));
        let name = "map-0123456789abcdef0123456789abcdef";
        let map = BlockwiseLayer::new(name, op("inc"), vec![BlockArg::block("x")], 2);
        let hlg = hlg.with_layer(Arc::new(map));
        let dot = hlg.to_dot();
        assert!(
            dot.contains(r#"l0 [label="x\nmaterialized, 2 tasks", tooltip="x"];"#),
            "{dot}"
        );
        assert!(
            dot.contains(r#"l1 [label="map-012345\nblockwise, 2 tasks""#),
            "{dot}"
        );
        assert!(dot.contains("l0 -> l1;"), "{dot}");
        let path = std::env::temp_dir().join(format!("oxidask-dot-hlg-{}.svg", std::process::id()));
        hlg.visualize(&path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.contains("blockwise"), "{svg}");
    }
}
