//! Tests of `syncmap report` (written with the feature).
