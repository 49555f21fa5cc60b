//! The conformance suite every [`Store`](super::Store) runs (feature `test-util`).
