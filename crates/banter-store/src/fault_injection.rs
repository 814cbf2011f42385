//! Faults injected on purpose, for the tests that prove the server notices
//! them. Compiled only with the `fault-injection` feature (the test builds
//! enable it through dev-dependencies; release builds never contain it).
//!
//! * `BANTER_FAULT_WRITER_PANIC_FILE=<path>`: once a file exists at `path`,
//!   the SQLite writer thread panics, outside any job, right after its next
//!   batch (as a bug in the writer itself would).

use std::path::PathBuf;

/// The writer-thread fault, configured from the environment at start.
pub(crate) struct WriterFault {
    trigger: Option<PathBuf>,
}

impl WriterFault {
    pub(crate) fn from_env() -> WriterFault {
        WriterFault { trigger: std::env::var_os("BANTER_FAULT_WRITER_PANIC_FILE").map(PathBuf::from) }
    }

    /// Called after every batch; panics once the trigger file exists.
    pub(crate) fn after_batch(&mut self) {
        if let Some(trigger) = &self.trigger {
            if trigger.exists() {
                panic!("fault injection: {} exists", trigger.display());
            }
        }
    }
}
