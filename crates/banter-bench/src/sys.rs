//! The load tool's few system calls, and the only `unsafe` code of the
//! workspace.
//!
//! Each function wraps one libc call with no pointer other than a local
//! struct, so its safety argument fits in a line; everything else in the
//! crate is safe Rust (`#![deny(unsafe_code)]` at the crate root).
#![allow(unsafe_code)]

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns the new soft
/// limit (or the old one if it could not be raised).
pub fn raise_file_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        limit.rlim_cur
    }
}

/// Makes the kernel send SIGTERM to `command`'s process when this one dies
/// (killed, crashed), so a server the load tool started never outlives it.
pub fn terminate_with_parent(command: &mut std::process::Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// Sends SIGTERM to a child process of ours.
pub fn terminate(child: &std::process::Child) {
    // SAFETY: kill(2) with our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
}

/// Clock ticks per second, the unit of the CPU times in `/proc/<pid>/stat`.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks.max(1) as f64
}
