//! Examples for cortex: see the `examples/` folder.
