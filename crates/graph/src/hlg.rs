//! High-level graphs (placeholder, being written).
