//! Tests of `syncmap doctor` (written with the feature).
