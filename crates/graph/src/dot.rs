//! Pictures of graphs: Graphviz DOT text and SVG files.
//!
//! [`TaskGraph::to_dot`] draws one box per task, labelled with its op and a
//! short form of its key (`(sum-3f2a1b, 0)`: the token cut to six digits;
//! the full key is the node's tooltip), filled with the colour of its task
//! group (the key's prefix, `sum` for `sum-3f2a…`: the tasks of one layer
//! or one function share a colour), and one edge from each dependency to
//! its dependent. Literal tasks are grey; keys read but missing from the
//! graph are dashed boxes, so a broken graph can still be drawn.
//! [`TaskGraph::to_dot_grouped`] draws one box per task group with its task
//! count, and [`HighLevelGraph::to_dot`] one box per layer. The text is
//! deterministic: the same graph gives the same bytes, so pictures can be
//! diffed and tested.
//!
//! `visualize` writes an SVG file with Graphviz's `dot` when it is on PATH,
//! and otherwise with the built-in layered layout (see `layout.rs`). A
//! graph of more than [`COLLAPSE_ABOVE`] tasks is drawn by task group.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use indexmap::IndexMap;

use crate::graph::TaskGraph;
use crate::hlg::HighLevelGraph;
use crate::key::Key;

/// Above this many tasks, `visualize` draws one box per task group instead
/// of one per task: a picture of thousands of boxes shows nothing.
pub const COLLAPSE_ABOVE: usize = 1000;

/// The most boxes a picture is drawn with (after collapsing to task
/// groups); beyond it the SVG would be too large to open.
pub const MAX_BUILTIN_NODES: usize = 10_000;

/// Fill colours of task groups: light, distinct, readable under black text.
const PALETTE: [&str; 10] = [
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
    "#9edae5", "#b5cf6b",
];

/// Literal tasks (data placed in the graph).
const LITERAL_FILL: &str = "#e0e0e0";

/// The colour of a task group: the same group always gets the same one.
pub(crate) fn group_color(group: &str) -> &'static str {
    PALETTE[(xxhash_rust::xxh3::xxh3_64(group.as_bytes()) % PALETTE.len() as u64) as usize]
}

/// A picture before layout: boxes and arrows, drawn as DOT text or by the
/// built-in renderer.
pub(crate) struct Plot {
    pub nodes: Vec<PlotNode>,
    /// `(from, to)` positions in `nodes`, each pair once.
    pub edges: Vec<(usize, usize)>,
}

/// One box of a [`Plot`].
pub(crate) struct PlotNode {
    pub id: String,
    pub label: String,
    pub tooltip: String,
    pub fill: Option<&'static str>,
    pub dashed: bool,
}

impl Plot {
    fn to_dot(&self) -> String {
        let mut out = String::from("digraph {\n  node [shape=box];\n");
        for n in &self.nodes {
            let mut style = String::new();
            if let Some(fill) = n.fill {
                let _ = write!(style, ", style=filled, fillcolor=\"{fill}\"");
            }
            if n.dashed {
                style.push_str(", style=dashed");
            }
            let _ = writeln!(
                out,
                "  {} [label=\"{}\", tooltip=\"{}\"{style}];",
                n.id,
                escape(&n.label),
                escape(&n.tooltip)
            );
        }
        for &(a, b) in &self.edges {
            let _ = writeln!(out, "  {} -> {};", self.nodes[a].id, self.nodes[b].id);
        }
        out.push_str("}\n");
        out
    }
}

/// Which renderer drew the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VisualizeBackend {
    /// The Graphviz `dot` executable found on PATH.
    Graphviz,
    /// The built-in layered layout.
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
    /// Too many boxes for one picture, even by task group.
    #[error(
        "the picture would have {nodes} {unit}, more than the {limit} one picture is drawn \
         with; cull the graph to the outputs you want to see"
    )]
    TooLarge {
        /// Nodes the picture would have.
        nodes: usize,
        /// What a node stands for: `tasks`, `task groups` or `layers`.
        unit: &'static str,
        /// [`MAX_BUILTIN_NODES`].
        limit: usize,
    },
    /// Graphviz `dot` ran and failed.
    #[error("Graphviz `dot` failed: {0}")]
    Graphviz(String),
    /// The file could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl TaskGraph {
    fn plot_tasks(&self) -> Plot {
        let mut nodes = Vec::with_capacity(self.len());
        for (id, (key, task)) in self.iter().enumerate() {
            let (label, fill) = if task.is_literal() {
                (format!("literal\n{}", short_key(key)), LITERAL_FILL)
            } else {
                (
                    format!("{}\n{}", task.op.label(), short_key(key)),
                    group_color(key.prefix()),
                )
            };
            nodes.push(PlotNode {
                id: format!("n{id}"),
                label,
                tooltip: key.to_string(),
                fill: Some(fill),
                dashed: false,
            });
        }
        // Keys read but not in the graph get their own (dashed) nodes, m0, m1…
        let mut missing: IndexMap<&Key, usize> = IndexMap::new();
        let mut edges = Vec::new();
        for (id, (_, task)) in self.iter().enumerate() {
            let first = edges.len();
            for dep in task.dependencies() {
                let from = match self.id_of(dep) {
                    Some(j) => j as usize,
                    None => {
                        let m = missing.len();
                        let m = *missing.entry(dep).or_insert(m);
                        if m == nodes.len() - self.len() {
                            nodes.push(PlotNode {
                                id: format!("m{m}"),
                                label: format!("missing\n{}", short_key(dep)),
                                tooltip: dep.to_string(),
                                fill: None,
                                dashed: true,
                            });
                        }
                        self.len() + m
                    }
                };
                if !edges[first..].contains(&(from, id)) {
                    edges.push((from, id));
                }
            }
        }
        Plot { nodes, edges }
    }

    fn plot_groups(&self) -> Plot {
        let mut groups: IndexMap<&str, usize> = IndexMap::new();
        let mut group_of = Vec::with_capacity(self.len());
        for (key, _) in self.iter() {
            let g = key.prefix();
            let next = groups.len();
            let i = *groups.entry(g).or_insert(next);
            group_of.push(i);
        }
        let mut counts = vec![0usize; groups.len()];
        for &g in &group_of {
            counts[g] += 1;
        }
        let mut nodes: Vec<PlotNode> = groups
            .keys()
            .enumerate()
            .map(|(i, g)| PlotNode {
                id: format!("g{i}"),
                label: format!(
                    "{}\n{} task{}",
                    short_name(g),
                    counts[i],
                    if counts[i] == 1 { "" } else { "s" }
                ),
                tooltip: g.to_string(),
                fill: Some(group_color(g)),
                dashed: false,
            })
            .collect();
        let mut missing: IndexMap<&str, usize> = IndexMap::new();
        let mut edges: indexmap::IndexSet<(usize, usize)> = indexmap::IndexSet::new();
        for (id, (_, task)) in self.iter().enumerate() {
            for dep in task.dependencies() {
                let from = match self.id_of(dep) {
                    Some(j) => group_of[j as usize],
                    None => {
                        let m = missing.len();
                        let m = *missing.entry(dep.prefix()).or_insert(m);
                        if m == nodes.len() - groups.len() {
                            nodes.push(PlotNode {
                                id: format!("m{m}"),
                                label: format!("missing\n{}", short_name(dep.prefix())),
                                tooltip: dep.prefix().to_string(),
                                fill: None,
                                dashed: true,
                            });
                        }
                        groups.len() + m
                    }
                };
                if from != group_of[id] {
                    edges.insert((from, group_of[id]));
                }
            }
        }
        Plot {
            nodes,
            edges: edges.into_iter().collect(),
        }
    }

    /// The graph in Graphviz DOT, for pictures and debugging: one box per
    /// task labelled with its op and a short form of its key (`(sum-3f2a1b,
    /// 0)`: long tokens cut to six digits; the full key is the tooltip) and
    /// filled with its task group's colour, and an edge from each dependency
    /// to its dependent. Literal tasks are grey; keys read but missing from
    /// the graph are dashed boxes. The same graph always gives the same text.
    pub fn to_dot(&self) -> String {
        self.plot_tasks().to_dot()
    }

    /// The graph in DOT at task-group granularity: one box per key prefix
    /// (`sum` for `('sum-3f2a…', 4)`) with its task count, in the group's
    /// colour, and one edge per pair of groups a dependency joins — how a
    /// graph of millions of tasks can still be looked at.
    pub fn to_dot_grouped(&self) -> String {
        self.plot_groups().to_dot()
    }

    /// Draws the graph to an SVG file at `path` — Graphviz if installed,
    /// else the built-in layered layout — and says which renderer drew it.
    /// Graphs of more than [`COLLAPSE_ABOVE`] tasks are drawn by task group
    /// ([`TaskGraph::to_dot_grouped`]). Cull the graph first to see only
    /// what some outputs need.
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<VisualizeBackend, VisualizeError> {
        let (plot, unit) = if self.len() > COLLAPSE_ABOVE {
            (self.plot_groups(), "task groups")
        } else {
            (self.plot_tasks(), "tasks")
        };
        write_svg(&plot, unit, path.as_ref())
    }
}

impl HighLevelGraph {
    fn plot_layers(&self) -> Plot {
        let deps = self.layer_dependencies();
        let position: IndexMap<&str, usize> = deps
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (*name, i))
            .collect();
        let nodes = self
            .layers()
            .enumerate()
            .map(|(i, layer)| {
                let n = layer.len();
                let name = layer.name();
                let group = name
                    .rfind('-')
                    .filter(|&i| i > 0)
                    .map_or(name, |i| &name[..i]);
                PlotNode {
                    id: format!("l{i}"),
                    label: format!(
                        "{}\n{}, {n} task{}",
                        short_name(name),
                        layer.kind(),
                        if n == 1 { "" } else { "s" }
                    ),
                    tooltip: name.to_string(),
                    fill: Some(group_color(group)),
                    dashed: false,
                }
            })
            .collect();
        let mut edges = Vec::new();
        for (i, (_, reads)) in deps.iter().enumerate() {
            for name in reads {
                edges.push((position[name], i));
            }
        }
        Plot { nodes, edges }
    }

    /// The graph in Graphviz DOT at layer granularity: one box per layer
    /// with its kind and task count, edges from each layer to the layers
    /// reading it.
    pub fn to_dot(&self) -> String {
        self.plot_layers().to_dot()
    }

    /// Draws the layers to an SVG file at `path`, like
    /// [`TaskGraph::visualize`] but one node per layer.
    pub fn visualize(&self, path: impl AsRef<Path>) -> Result<VisualizeBackend, VisualizeError> {
        write_svg(&self.plot_layers(), "layers", path.as_ref())
    }
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
    plot: &Plot,
    unit: &'static str,
    path: &Path,
) -> Result<VisualizeBackend, VisualizeError> {
    let fail = |kind| VisualizeError {
        path: path.to_path_buf(),
        kind,
    };
    let nodes = plot.nodes.len();
    if nodes > MAX_BUILTIN_NODES {
        return Err(fail(VisualizeErrorKind::TooLarge {
            nodes,
            unit,
            limit: MAX_BUILTIN_NODES,
        }));
    }
    let (svg, backend) = match render_graphviz(&plot.to_dot()) {
        Some(svg) => (svg.map_err(fail)?, VisualizeBackend::Graphviz),
        None => (
            crate::layout::render_svg(plot).into_bytes(),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::hlg::{BlockArg, BlockLayer, MaterializedLayer};
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
            dot.contains(
                r##"n0 [label="literal\nx", tooltip="'x'", style=filled, fillcolor="#e0e0e0"];"##
            ),
            "{dot}"
        );
        let y_color = group_color("y");
        assert!(
            dot.contains(&format!(
                r#"n1 [label="double\ny", tooltip="'y'", style=filled, fillcolor="{y_color}"];"#
            )),
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

    /// A map over `n` partitions: `x-i` literals, `inc-i` tasks reading them,
    /// and one `total` reading every `inc`.
    fn map_reduce(n: u32) -> TaskGraph {
        let mut g = TaskGraph::new();
        for i in 0..n {
            g.insert(
                Key::with_index("x-00ff", &[i]),
                Task::literal(Value::new(i)),
            );
        }
        for i in 0..n {
            g.insert(
                Key::with_index("inc-00ff", &[i]),
                Task::new(op("inc"), vec![Key::with_index("x-00ff", &[i]).into()]),
            );
        }
        let all = (0..n)
            .map(|i| Key::with_index("inc-00ff", &[i]).into())
            .collect();
        g.insert(Key::new("total-00ff"), Task::new(op("sum"), all));
        g
    }

    #[test]
    fn the_builtin_layout_draws_hundreds_of_tasks_quickly() {
        let g = map_reduce(300); // 601 boxes, 900 arrows
        let t = std::time::Instant::now();
        let svg = crate::layout::render_svg(&g.plot_tasks());
        assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
        assert_eq!(svg.matches("<g class=\"node\">").count(), 601);
        assert_eq!(svg.matches("<line ").count(), 600);
        // Every box has its own place: no two at the same position.
        let mut places: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("<g class=\"node\">"))
            .map(|l| {
                let i = l.find("<rect x=").unwrap();
                &l[i..i + 40]
            })
            .collect();
        places.sort();
        places.dedup();
        assert_eq!(places.len(), 601);
    }

    #[test]
    fn large_graphs_are_drawn_by_task_group() {
        let g = map_reduce(2000);
        let dot = g.to_dot_grouped();
        assert!(dot.contains(r#"label="x\n2000 tasks""#), "{dot}");
        assert!(dot.contains(r#"label="inc\n2000 tasks""#), "{dot}");
        assert!(dot.contains(r#"label="total\n1 task""#), "{dot}");
        assert!(
            dot.contains("g0 -> g1;") && dot.contains("g1 -> g2;"),
            "{dot}"
        );
        assert_eq!(dot.matches("->").count(), 2, "{dot}");
        let path =
            std::env::temp_dir().join(format!("oxidask-dot-groups-{}.svg", std::process::id()));
        g.visualize(&path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(svg.contains("2000 tasks"), "{svg}");
        assert!(svg.contains(group_color("inc")), "coloured by group");
    }

    #[test]
    fn groups_in_a_cycle_are_still_drawn() {
        // a-0 → b-0 → a-1: the groups a and b read each other.
        let mut g = TaskGraph::new();
        g.insert(
            Key::with_index("a-1", &[0]),
            Task::literal(Value::new(1i64)),
        );
        g.insert(
            Key::with_index("b-1", &[0]),
            Task::new(op("f"), vec![Key::with_index("a-1", &[0]).into()]),
        );
        g.insert(
            Key::with_index("a-1", &[1]),
            Task::new(op("g"), vec![Key::with_index("b-1", &[0]).into()]),
        );
        let svg = crate::layout::render_svg(&g.plot_groups());
        assert_eq!(svg.matches("<g class=\"node\">").count(), 2);
        assert_eq!(svg.matches("<line ").count(), 2);
    }

    #[test]
    fn high_level_dot_has_one_node_per_layer() {
        let mut x = TaskGraph::new();
        x.insert(Key::with_index("x", &[0]), Task::literal(Value::new(1i64)));
        x.insert(Key::with_index("x", &[1]), Task::literal(Value::new(2i64)));
        let hlg = HighLevelGraph::from_layer(Arc::new(MaterializedLayer::new("x", x)));
        let name = "map-0123456789abcdef0123456789abcdef";
        let map = BlockLayer::blockwise(name, op("inc"), vec![BlockArg::block("x")], vec![2]);
        let hlg = hlg.with_layer(Arc::new(map));
        let dot = hlg.to_dot();
        assert!(
            dot.contains(r#"l0 [label="x\nmaterialized, 2 tasks", tooltip="x", style=filled"#),
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
