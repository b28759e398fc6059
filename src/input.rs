//! Files a run reads (model JSON, checkpoints, training states, IDX data, images, sweep
//! results): each must be a regular file, or a link to one, before a byte is read. A FIFO
//! would block the run forever, a device never end, a directory fail with a message that does
//! not say so; each is refused by name instead.
//!
//! Every file read, or named as an input before it is read ([`note`]), is remembered by its
//! identity, so that no output of the same command replaces it ([`is_input`], which
//! [`crate::output`] asks before every write).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// What identifies a file whatever path names it: its device and inode on Unix (so a link or
/// another spelling of the path is the same file), its canonical path elsewhere.
#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = PathBuf;

#[cfg(unix)]
fn id_of(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn id_of(path: &Path) -> Option<FileId> {
    std::fs::canonicalize(path).ok()
}

/// The inputs of this process so far, with the path each was named by, and what was handed
/// over to be written (files, and directories whose every file is).
struct Registry {
    inputs: Vec<(FileId, PathBuf)>,
    handed: Vec<FileId>,
}

static INPUTS: Mutex<Registry> = Mutex::new(Registry {
    inputs: Vec::new(),
    handed: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    INPUTS.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Whether `path` (of identity `id`) was handed over, itself or its directory.
    fn handed(&self, path: &Path, id: &FileId) -> bool {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new(".")).to_path_buf();
        self.handed.contains(id) || id_of(&dir).is_some_and(|d| self.handed.contains(&d))
    }
}

/// Records `path` as one of this command's inputs (a file that exists; anything else is the
/// reader's to report), so that no output replaces it.
pub fn note(path: &Path) {
    if let Some(id) = id_of(path) {
        let mut r = registry();
        if !r.handed(path, &id) && !r.inputs.iter().any(|(i, _)| *i == id) {
            r.inputs.push((id, path.to_path_buf()));
        }
    }
}

/// The path of the input that `path` is (the same file, by whatever name), if it is one.
pub fn is_input(path: &Path) -> Option<PathBuf> {
    let id = id_of(path)?;
    let r = registry();
    if r.handed(path, &id) {
        return None;
    }
    r.inputs
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, p)| p.clone())
}

/// Hands an input over to be written, for the rest of the process: a run resumed from a
/// checkpoint saves on to it, by design (a directory: every file in it), so it stops
/// counting as an input, even when it is read again.
pub fn hand_over(path: &Path) {
    if let Some(id) = id_of(path) {
        let mut r = registry();
        r.inputs.retain(|(i, _)| *i != id);
        r.handed.push(id);
    }
}

/// The bytes of `path`, a regular file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    check_regular(path)?;
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// The text of `path`, a regular file.
pub fn read_to_string(path: &Path) -> Result<String> {
    check_regular(path)?;
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// An error unless `path` is a regular file (or a link to one); a missing file is the
/// reader's to report.
pub fn check_regular(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_file() {
        note(path);
        return Ok(());
    }
    Err(Error::file(
        path,
        format!(
            "is {}, not a regular file; expected a file",
            describe(&meta)
        ),
    ))
}

/// What a file is, for errors: `a regular file`, `a FIFO (named pipe)`, `a directory`, ...
pub fn describe(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}
