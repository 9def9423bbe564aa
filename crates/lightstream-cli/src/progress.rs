//! Progress of a long command on stderr: rows, bytes and throughput, and the
//! share done and time left when the input's size is known.
//!
//! What it is for: telling a person at a terminal that data is moving (`recv`,
//! `listen`, `send`, `convert`, `serve` loading its input). It is on only when
//! stderr is a terminal (`std::io::IsTerminal`); in pipes, scripts and tests
//! the commands print nothing but their errors and the `listening on <url>`
//! line. Updates are rate-limited and overwrite one line
//! with `\r`; the final summary ends that line.
//!
//! What it is not: a log. Nothing here is needed to use the output.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// The shortest time between two progress updates.
const INTERVAL: Duration = Duration::from_millis(250);

/// A `\r`-overwritten progress line on stderr (when stderr is a terminal).
pub struct Progress {
    enabled: bool,
    /// "received" / "sent".
    verb: &'static str,
    start: Instant,
    last: Option<Instant>,
    /// A progress line is on screen without its newline.
    open_line: bool,
}

impl Progress {
    pub fn new(verb: &'static str) -> Progress {
        Progress::with_terminal(verb, io::stderr().is_terminal())
    }

    fn with_terminal(verb: &'static str, enabled: bool) -> Progress {
        Progress {
            enabled,
            verb,
            start: Instant::now(),
            last: None,
            open_line: false,
        }
    }

    /// Whether an update at `now` is due (the first one always is).
    fn due(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= INTERVAL)
    }

    /// Shows the counts so far, at most a few times per second.
    pub fn update(&mut self, rows: u64, bytes: u64) {
        self.update_done(rows, Some(bytes), None);
    }

    /// [`Progress::update`] with `bytes` when they mean something, and the
    /// share of the input done (0 to 1) when it is known: then the line says
    /// the percentage and about how long is left.
    pub fn update_done(&mut self, rows: u64, bytes: Option<u64>, done: Option<f64>) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if !self.due(now) {
            return;
        }
        self.last = Some(now);
        let line = progress_line(self.verb, rows, bytes, now.duration_since(self.start), done);
        // `\x1b[K` clears what a longer previous line left behind.
        let _ = write!(io::stderr(), "\r{line}\x1b[K");
        self.open_line = true;
    }

    /// Ends the progress line with the final counts.
    pub fn finish(&mut self, rows: u64, bytes: u64) {
        self.finish_done(rows, Some(bytes));
    }

    /// [`Progress::finish`] for a line without bytes.
    pub fn finish_done(&mut self, rows: u64, bytes: Option<u64>) {
        if !self.enabled {
            return;
        }
        let line = progress_line(self.verb, rows, bytes, self.start.elapsed(), None);
        let _ = writeln!(io::stderr(), "\r{line}\x1b[K");
        self.open_line = false;
    }
}

impl Drop for Progress {
    /// An error message after an unfinished progress line starts on its own line.
    fn drop(&mut self) {
        if self.open_line {
            let _ = writeln!(io::stderr());
        }
    }
}

/// Whether one-off status lines (a client served) are worth printing: only for a
/// person at a terminal.
pub fn chatty() -> bool {
    io::stderr().is_terminal()
}

/// `received 12000 rows, 1.2 MiB in 0.4 s (3.0 MiB/s)`
pub fn summary(verb: &str, rows: u64, bytes: u64, elapsed: Duration) -> String {
    progress_line(verb, rows, Some(bytes), elapsed, None)
}

/// `converted 12000 rows in 2.0 s: 40%, about 3 s left`; with bytes as
/// [`summary`] says them.
fn progress_line(
    verb: &str,
    rows: u64,
    bytes: Option<u64>,
    elapsed: Duration,
    done: Option<f64>,
) -> String {
    let secs = elapsed.as_secs_f64();
    let plural = if rows == 1 { "" } else { "s" };
    let mut line = match bytes {
        Some(bytes) => bytes_line(verb, rows, bytes, secs),
        None => format!("{verb} {rows} row{plural} in {secs:.1} s"),
    };
    if let Some(done) = done.filter(|d| d.is_finite()) {
        let done = done.clamp(0.0, 1.0);
        line.push_str(&format!(": {:.0}%", done * 100.0));
        // Time left at the rate so far; only once there is a rate to go by.
        if done > 0.0 && done < 1.0 && secs >= 0.5 {
            let left = secs * (1.0 - done) / done;
            line.push_str(&format!(", about {} left", human_seconds(left)));
        }
    }
    line
}

/// `3 s`, `2 min 5 s`, `1 h 3 min`.
fn human_seconds(secs: f64) -> String {
    let secs = secs.round().max(1.0) as u64;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

fn bytes_line(verb: &str, rows: u64, bytes: u64, secs: f64) -> String {
    let rate = if secs > 0.0 {
        // Rounded to whole bytes per second: precision beyond that is noise.
        human_bytes((bytes as f64 / secs) as u64)
    } else {
        human_bytes(0)
    };
    format!(
        "{verb} {rows} row{}, {} in {secs:.1} s ({rate}/s)",
        if rows == 1 { "" } else { "s" },
        human_bytes(bytes)
    )
}

/// `512 B`, `1.5 KiB`, `23.4 MiB`, `1.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn summaries_give_rows_bytes_and_rate() {
        assert_eq!(
            summary("received", 12000, 2 << 20, Duration::from_secs(2)),
            "received 12000 rows, 2.0 MiB in 2.0 s (1.0 MiB/s)"
        );
        assert_eq!(
            summary("sent", 1, 10, Duration::ZERO),
            "sent 1 row, 10 B in 0.0 s (0 B/s)"
        );
    }

    #[test]
    fn lines_say_the_share_done_and_the_time_left() {
        let line = |rows, bytes, ms, done| {
            progress_line("converted", rows, bytes, Duration::from_millis(ms), done)
        };
        assert_eq!(
            line(500, None, 2000, Some(0.4)),
            "converted 500 rows in 2.0 s: 40%, about 3 s left"
        );
        assert_eq!(
            line(1, Some(2 << 20), 2000, Some(0.25)),
            "converted 1 row, 2.0 MiB in 2.0 s (1.0 MiB/s): 25%, about 6 s left"
        );
        // Too early to tell the time left; done is done; unknown says nothing.
        assert_eq!(
            line(7, None, 100, Some(0.5)),
            "converted 7 rows in 0.1 s: 50%"
        );
        assert_eq!(
            line(7, None, 9000, Some(1.0)),
            "converted 7 rows in 9.0 s: 100%"
        );
        assert_eq!(line(7, None, 9000, None), "converted 7 rows in 9.0 s");
        assert_eq!(
            line(7, None, 9000, Some(f64::NAN)),
            "converted 7 rows in 9.0 s"
        );
        assert_eq!(
            line(7, None, 150_000, Some(0.5)),
            "converted 7 rows in 150.0 s: 50%, about 2 min 30 s left"
        );
        assert_eq!(human_seconds(4000.0), "1 h 6 min");
    }

    #[test]
    fn updates_are_rate_limited() {
        let mut p = Progress::with_terminal("sent", false);
        let t0 = Instant::now();
        assert!(p.due(t0), "the first update is shown");
        p.last = Some(t0);
        assert!(!p.due(t0 + Duration::from_millis(100)));
        assert!(p.due(t0 + INTERVAL));
        // Disabled (not a terminal): nothing is printed, nothing is left open.
        p.update(1, 1);
        p.finish(1, 1);
        assert!(!p.open_line);
    }
}
