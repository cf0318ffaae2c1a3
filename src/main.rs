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

fn main() -> std::process::ExitCode {
    cli::main()
}
