//! CPU time of a process, and idle time of cores, from /proc: how busy a server or a load
//! generator kept its cores over a run, so that a comparison shows which side was the limit (a
//! server at 1.0 of its one core is CPU-bound; load cores that never sat idle are the bottleneck,
//! not the server).

/// User plus system CPU seconds `pid` (all its threads) has used so far; None once it is gone
/// or where /proc is not Linux's.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_seconds_of_stat(&stat, clock_ticks_per_second())
}

/// Seconds `cores` have sat idle so far, summed (idle plus iowait in /proc/stat: time nothing at
/// all ran there, neither a process nor the kernel's own work); None where it cannot be read.
pub fn cores_idle_seconds(cores: &[usize]) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    idle_seconds_of_stat(&stat, cores, clock_ticks_per_second())
}

/// The lines `cpuN user nice system idle iowait ...` of /proc/stat, in clock ticks.
fn idle_seconds_of_stat(stat: &str, cores: &[usize], ticks_per_second: f64) -> Option<f64> {
    let mut idle_ticks = 0;
    for &core in cores {
        let name = format!("cpu{core}");
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
        let mut fields = line.split_whitespace().skip(4);
        let idle: u64 = fields.next()?.parse().ok()?;
        let iowait: u64 = fields.next()?.parse().ok()?;
        idle_ticks += idle + iowait;
    }
    Some(idle_ticks as f64 / ticks_per_second)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// utime and stime are fields 14 and 15 of /proc/PID/stat; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted from after its closing parenthesis (field 3 on).
fn cpu_seconds_of_stat(stat: &str, ticks_per_second: f64) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / ticks_per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_past_an_odd_command_name() {
        let stat = "4242 (keel (x) y) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 3 0";
        assert_eq!(cpu_seconds_of_stat(stat, 100.0), Some(4.0));
        assert_eq!(cpu_seconds_of_stat("4242 (cut", 100.0), None);
    }

    #[test]
    fn sums_idle_and_iowait_of_the_cores_asked_for() {
        let stat = "cpu  10 0 10 900 50 0 0\ncpu0 5 0 5 400 20 0 0\ncpu1 5 0 5 500 30 0 0\n";
        assert_eq!(idle_seconds_of_stat(stat, &[1], 100.0), Some(5.3));
        assert_eq!(idle_seconds_of_stat(stat, &[0, 1], 100.0), Some(9.5));
        assert_eq!(idle_seconds_of_stat(stat, &[2], 100.0), None);
    }

    #[test]
    fn this_process_shows_the_cpu_it_spends() {
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while process_cpu_seconds(std::process::id()).expect("own /proc stat") < 0.05 {
            assert!(start.elapsed().as_secs() < 20, "50 ms of CPU never showed");
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
            }
        }
        std::hint::black_box(x);
    }
}
