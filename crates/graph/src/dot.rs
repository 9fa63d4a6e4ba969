//! Pictures of graphs (placeholder, being written).
