//! Tests of `syncmap schedule` (written with the feature).
