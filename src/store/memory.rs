//! The in-process store.

/// Keeps challenge state in this process's memory. The embedded default.
#[derive(Debug, Default)]
pub struct MemoryStore {}
