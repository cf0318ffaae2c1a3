//! CPU time of this process's threads, by thread name, from Linux's per-thread scheduler
//! statistics: which side of a measurement (the services or the sync) kept the cores busy.
//! Elsewhere, or where the kernel keeps no such statistics, every figure is zero.

use std::collections::HashMap;
use std::time::Duration;

/// Time on a CPU so far of each live thread: its name, by thread id.
pub struct Threads(HashMap<String, (String, Duration)>);

impl Threads {
    pub fn now() -> Threads {
        let mut out = HashMap::new();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Threads(out);
        };
        for task in tasks.flatten() {
            let path = task.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            // The first figure is the nanoseconds the thread has run.
            let ran = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            if let Some(ns) = ran {
                let tid = task.file_name().to_string_lossy().into_owned();
                out.insert(tid, (name.trim().to_string(), Duration::from_nanos(ns)));
            }
        }
        Threads(out)
    }

    /// CPU time since `before`, of the threads named `name` and of all the others (a thread
    /// that ended in between is not counted).
    pub fn since(&self, before: &Threads, name: &str) -> (Duration, Duration) {
        let (mut named, mut others) = (Duration::ZERO, Duration::ZERO);
        for (tid, (thread, ran)) in &self.0 {
            let earlier = before.0.get(tid).map_or(Duration::ZERO, |(_, d)| *d);
            let spent = ran.saturating_sub(earlier);
            if thread == name {
                named += spent;
            } else {
                others += spent;
            }
        }
        (named, others)
    }
}
