//! Integration tests for cortex (see `tests/`).
