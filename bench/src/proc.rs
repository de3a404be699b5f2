//! Child processes measured from the outside: wall time from spawn to exit. (Peak RSS is
//! reported by the children themselves, from their `VmHWM`: `ru_maxrss` of a child also
//! counts the parent's RSS at fork time, which Linux carries across `exec`.)

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};

/// What a measured child did.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Spawn to exit.
    pub wall: Duration,
    /// Its standard output.
    pub stdout: String,
}

/// Run `cmd` to completion (stdin closed, stderr appended to `log`), measuring it. A non-zero
/// exit is an error naming the command and the tail of the log.
pub fn run_measured(what: &str, cmd: &mut Command, log: &Path) -> Result<Measured> {
    let err_file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(BenchError::io(format!("opening {}", log.display())))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err_file);
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(BenchError::io(format!("{what}: spawning {cmd:?}")))?;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut o) = stdout {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let pid = child.id() as libc::pid_t;
    let status = wait4(pid).map_err(BenchError::io(format!("{what}: waiting")))?;
    let wall = t0.elapsed();
    let stdout = reader.join().unwrap_or_default();
    // the child was reaped by wait4: std's handle must not wait for it again
    drop(child);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        let tail = tail_of(log, 4000);
        return Err(BenchError::step(format!(
            "{what}: {} ({}); log {}:\n{tail}",
            describe(status),
            stdout.trim(),
            log.display()
        )));
    }
    Ok(Measured { wall, stdout })
}

fn wait4(pid: libc::pid_t) -> std::io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: pid is our own child; status points to a live local; no rusage wanted.
        let r = unsafe { libc::wait4(pid, &mut status, 0, std::ptr::null_mut()) };
        if r == pid {
            return Ok(status);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// The last `n` bytes of a file (for error messages).
pub fn tail_of(path: &Path, n: usize) -> String {
    let s = std::fs::read(path).unwrap_or_default();
    let start = s.len().saturating_sub(n);
    String::from_utf8_lossy(&s[start..]).into_owned()
}
