//! Standard output for the commands. std's `print!` panics when the reader has gone away
//! (`syncmap status | head -1`), which ended the command with exit 101 and a panic message. The
//! `print!` and `println!` macros of this binary write through here instead: a closed pipe
//! ends the process quietly, as SIGPIPE ends other tools, and any other failure is reported.

use std::io::Write;

/// The exit status of a process ended by SIGPIPE, as shells report it (128 + 13).
const CLOSED_PIPE: i32 = 141;

/// Writes formatted text to standard output; a newline after it when `newline` is set.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let mut result = out.write_fmt(args);
    if newline && result.is_ok() {
        result = out.write_all(b"\n");
    }
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(CLOSED_PIPE),
        Err(e) => {
            eprintln!("syncmap: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }
}
