//! Tests of the built-in pages.
