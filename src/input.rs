//! Files a run reads (model JSON, checkpoints, training states, IDX data, images, sweep
//! results): each must be a regular file, or a link to one, before a byte is read. A FIFO
//! would block the run forever, a device never end, a directory fail with a message that does
//! not say so; each is refused by name instead.

use std::path::Path;

use crate::error::{Error, Result};

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
        return Ok(());
    }
    Err(Error::file(
        path,
        format!("is {}, not a regular file; expected a file", kind(&meta)),
    ))
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
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
    } else {
        "not a regular file"
    }
}
