//! The `syncmap` command line.

// Before `mod cli`, so these shadow std's macros everywhere in it: see `cli::out`.
macro_rules! print {
    ($($arg:tt)*) => { $crate::cli::out::write(format_args!($($arg)*), false) };
}
macro_rules! println {
    () => { $crate::cli::out::write(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::cli::out::write(format_args!($($arg)*), true) };
}

mod cli;

/// A sync allocates rows, values and answers by the million and frees them in bulk, from
/// several threads: glibc's allocator spent about a quarter of a sync's CPU in `malloc` and
/// `free`, and mimalloc makes a full sync 1.2–1.3× as fast (docs/benchmarks.md, issue 14).
/// Without transparent huge pages (`no_thp`): they made its peak memory half as large again,
/// 2 MiB zeroed at a time, and gained no speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
