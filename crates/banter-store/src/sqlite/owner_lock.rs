//! One process per database file.
//!
//! SQLite itself would let two `banter serve` processes open the same file:
//! both would run a writer, both would assign "the next seq" from their own
//! view, and the second process's group commits would wait on the first's
//! write lock until they time out. Neither is a state anyone wants, so the
//! store takes an exclusive advisory lock on `<database>.lock` when it opens
//! and keeps it until it closes. The kernel drops the lock when the process
//! dies (even by `kill -9`), so a crash never leaves a stale lock behind.

use std::{
    fs::{File, OpenOptions, TryLockError},
    path::{Path, PathBuf},
    sync::Mutex,
};

use crate::{StoreError, StoreResult};

/// An exclusive lock on the database's lock file, released on drop or
/// [`OwnerLock::release`].
#[derive(Debug)]
pub(super) struct OwnerLock {
    file: Mutex<Option<File>>,
}

impl OwnerLock {
    /// Takes the lock for the database at `database`, or explains who has it.
    pub(super) fn acquire(database: &Path) -> StoreResult<OwnerLock> {
        let path = lock_path(database);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open lock file {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(OwnerLock { file: Mutex::new(Some(file)) }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
                "the database {} is in use by another banter process (lock file {}); \
                 stop it or choose another --data-dir",
                database.display(),
                path.display()
            ))),
            Err(TryLockError::Error(e)) => {
                Err(StoreError::Unavailable(format!("cannot lock {}: {e}", path.display())))
            }
        }
    }

    /// Gives the lock up (the store has closed).
    pub(super) fn release(&self) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // Closing the descriptor releases the lock.
        file.take();
    }
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_until_the_first_releases() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("banter.sqlite3");
        let first = OwnerLock::acquire(&database).unwrap();
        let refused = OwnerLock::acquire(&database).unwrap_err();
        assert!(refused.to_string().contains("in use by another banter process"), "{refused}");
        first.release();
        OwnerLock::acquire(&database).expect("free again once released");
    }
}
