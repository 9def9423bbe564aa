//! What the benches that run processes and sockets (`fanout.rs`, `nats.rs`,
//! `nats_fanout.rs`, `transport.rs`) share: what they read of a process (its CPU time: its own through
//! getrusage, another's from `/proc/<pid>/stat`, a reaped child's from
//! wait4; its `RssAnon` and the peak of it), the open-file limit their
//! thousand sockets need, their comma-separated environment lists, the
//! nats-server version they report, and a private temporary directory.
//!
//! What it is not: a timer or a report (each bench has its own), nor part of
//! `lightstream-benches`' library, which stays free of libc and processes.

// Each bench uses its own subset.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// This process's user + system CPU time so far (getrusage: microseconds,
/// where `/proc/<pid>/stat` counts 10 ms ticks).
pub fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the struct we own.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    rusage_cpu(&u)
}

fn rusage_cpu(u: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// User + system CPU time of process `pid` so far (`/proc/<pid>/stat`, in
/// clock ticks of 10 ms); `None` once it is gone.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: fields after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 of the line, utime 14 and stime 15.
    let ticks = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    let total = ticks(14)? + ticks(15)?;
    // SAFETY: sysconf reads a configuration value; no memory is passed.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|&t| t > 0)?;
    Some(Duration::from_nanos(total * 1_000_000_000 / per_second))
}

/// Waits for child `pid` to exit and returns its exit status and the CPU
/// time it used (wait4's rusage: the child's own, microseconds).
pub fn wait_with_cpu(pid: u32) -> (i32, Duration) {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes the status and one rusage into values we own.
    let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut u) };
    assert_eq!(
        got,
        pid as libc::pid_t,
        "wait4({pid}): {}",
        std::io::Error::last_os_error()
    );
    (status, rusage_cpu(&u))
}

/// `RssAnon` of process `pid`, in bytes (0 once it is gone).
pub fn rss_anon(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Samples a process's `RssAnon` every `every` on a thread; the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
    pid: u32,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_anon(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_anon(pid), Ordering::Relaxed);
                std::thread::sleep(every);
            }
        });
        RssSampler {
            stop,
            peak,
            thread,
            pid,
        }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler");
        self.peak.fetch_max(rss_anon(self.pid), Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

/// Raises the soft limit on open files towards the hard one when under `need`.
pub fn raise_open_files(need: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) }, 0);
    if l.rlim_cur < need {
        assert!(
            l.rlim_max >= need,
            "this bench needs {need} open files; the hard limit is {} (ulimit -Hn)",
            l.rlim_max
        );
        l.rlim_cur = l.rlim_max;
        // SAFETY: setrlimit reads one rlimit from the struct we own.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) }, 0);
    }
}

/// A comma-separated list from environment variable `name`, or `default`.
pub fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// What `nats-server --version` says (`LIGHTSTREAM_NATS_SERVER` or the one
/// on `PATH`, as tests/src/nats.rs runs it).
pub fn nats_server_version() -> String {
    let bin = std::env::var("LIGHTSTREAM_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("{bin}: {e}"))
}

/// A private directory under the system's temporary one
/// (`<prefix>-<pid>`), removed on drop (also when the bench panics).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
