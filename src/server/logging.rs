//! The server log, in Redis's line format (`pid:role date level message`), to stderr or `logfile`.
//! glommio logs through the same `log` facade, so its warnings (e.g. about io_memory) show here.

use std::fs::File;
use std::io::Write;

use crate::config::LogLevel;

struct Logger {
    file: Option<File>,
    level: log::LevelFilter,
}

pub fn init(level: LogLevel, logfile: &str) -> Result<(), String> {
    let file = if logfile.is_empty() {
        None
    } else {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logfile)
                .map_err(|e| format!("cannot open logfile '{logfile}': {e}"))?,
        )
    };
    let level = match level {
        LogLevel::Debug => log::LevelFilter::Trace,
        LogLevel::Verbose => log::LevelFilter::Debug,
        LogLevel::Notice => log::LevelFilter::Info,
        LogLevel::Warning => log::LevelFilter::Warn,
    };
    log::set_max_level(level);
    log::set_boxed_logger(Box::new(Logger { file, level })).map_err(|e| e.to_string())
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) || is_expected_glommio_probe(record) {
            return;
        }
        // Redis marks levels with . - * #
        let mark = match record.level() {
            log::Level::Error | log::Level::Warn => '#',
            log::Level::Info => '*',
            log::Level::Debug => '-',
            log::Level::Trace => '.',
        };
        let thread = std::thread::current();
        let role = thread.name().unwrap_or("?");
        let line = format!(
            "{}:{} {} {} {}\n",
            std::process::id(),
            role,
            timestamp(),
            mark,
            record.args()
        );
        // One write per line: O_APPEND (and stderr) keep concurrent lines whole, without a lock.
        match &self.file {
            Some(f) => drop((&*f).write_all(line.as_bytes())),
            None => drop(std::io::stderr().write_all(line.as_bytes())),
        }
    }

    fn flush(&self) {}
}

/// glommio warns when its polled-I/O probe fails on a write-only journal segment; that failure is
/// what the journal wants (no polling ring: syncs through it are 10x slower), so it is not logged.
fn is_expected_glommio_probe(record: &log::Record) -> bool {
    record.target().starts_with("glommio") && record.args().to_string().contains("probing iopoll")
}

/// `26 Nov 2026 04:15:17.123` (UTC).
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}
