//! The `syncmap` command line.

fn main() {}
