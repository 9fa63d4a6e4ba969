//! oxidask integration tests.
