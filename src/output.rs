//! Files a run writes (checkpoints, training states, histories, comparisons, ONNX models,
//! figures, reports, diagrams, sample grids): checked before any training, replaced
//! atomically and durably, and guarded against a second run writing the same path. Every
//! flag that names an output is declared once in [`OUTPUT_FLAGS`], with the extensions it
//! takes; no output replaces one of its command's inputs ([`crate::input::is_input`]).
//!
//! A write goes to a temporary file unique to this process in the target's directory, is
//! synced, renamed over the target, and the directory is synced: a crash or a SIGKILL at any
//! point leaves either the old file or the new one, whole, and no temporary file survives an
//! error. A symlink's target is what gets replaced; a directory or a device node is refused.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// What an output flag names: a file with one of these extensions (compared without regard
/// to case), or a directory the command fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    File(&'static [&'static str]),
    Dir,
}

/// A flag, of any command, that names something shaderfit writes.
#[derive(Clone, Copy, Debug)]
pub struct OutputFlag {
    pub flag: &'static str,
    pub written: Written,
}

/// Every output flag, declared once: the checks below read it, and the test that holds every
/// command's outputs to these rules (`tests/outputs.rs`) enumerates the commands' flags
/// against it, so a new output cannot bypass them.
pub const OUTPUT_FLAGS: [OutputFlag; 10] = [
    OutputFlag {
        flag: "--save",
        written: Written::File(&["safetensors"]),
    },
    OutputFlag {
        flag: "--checkpoint-dir",
        written: Written::Dir,
    },
    OutputFlag {
        flag: "--history",
        written: Written::File(&["json", "csv"]),
    },
    OutputFlag {
        flag: "--report",
        written: Written::Dir,
    },
    OutputFlag {
        flag: "--json",
        written: Written::File(&["json"]),
    },
    OutputFlag {
        flag: "--onnx",
        written: Written::File(&["onnx"]),
    },
    OutputFlag {
        flag: "--diagram",
        written: Written::File(&["svg", "png"]),
    },
    OutputFlag {
        flag: "--out",
        written: Written::File(&["png"]),
    },
    OutputFlag {
        flag: "--to",
        written: Written::Dir,
    },
    OutputFlag {
        flag: "--submission",
        written: Written::File(&["csv"]),
    },
];

/// The declaration of output flag `flag`.
pub fn output_flag(flag: &str) -> &'static OutputFlag {
    OUTPUT_FLAGS
        .iter()
        .find(|o| o.flag == flag)
        .unwrap_or_else(|| panic!("{flag} is not declared in output::OUTPUT_FLAGS"))
}

/// `path`'s extension, lowercase, if it is one that `flag` takes; the error names the flag
/// and the extensions it takes.
pub fn check_extension(flag: &'static str, path: &Path) -> Result<String> {
    let Written::File(extensions) = output_flag(flag).written else {
        return Ok(String::new());
    };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext {
        Some(e) if extensions.contains(&e.as_str()) => Ok(e),
        _ => {
            let list: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
            Err(Error::flag(
                flag,
                format!("{}: expected a {} file", path.display(), list.join(" or ")),
            ))
        }
    }
}

/// Checks, before any training, that `path` (given by `flag`) can be written: it has an
/// extension `flag` takes, its directory exists and takes new files, the path is a regular
/// file (or a link to one) if it exists, and not one of the command's inputs.
pub fn check_writable(flag: &'static str, path: &Path) -> Result<()> {
    let target = resolve(flag, path)?;
    check_extension(flag, path)?;
    let dir = parent(&target);
    if !dir.is_dir() {
        return Err(Error::flag(
            flag,
            format!(
                "{}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
        ));
    }
    let probe = temporary(&target);
    File::create(&probe).map_err(|e| {
        Error::flag(
            flag,
            format!("{}: cannot write in {}: {e}", path.display(), dir.display()),
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The marker a directory written by [`replace_dir`] holds: what makes it ours to replace.
const OURS: &str = ".shaderfit-output";

/// Checks, before any training, that `dir` (given by `flag`) can be written as a whole
/// directory of outputs (a report): it is new, empty, or one shaderfit wrote (it holds the
/// marker [`replace_dir`] leaves, or an earlier version's report page). Anything else holds
/// files that are not ours, which replacing it would delete.
pub fn check_replaceable_dir(flag: &'static str, dir: &Path) -> Result<()> {
    check_not_input(flag, dir)?;
    let Ok(meta) = std::fs::metadata(dir) else {
        return prepare_dir(flag, dir);
    };
    if !meta.is_dir() {
        return Err(Error::flag(
            flag,
            format!(
                "{}: exists and is {}, not a directory",
                dir.display(),
                crate::input::describe(&meta)
            ),
        ));
    }
    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    // Only a regular file is read: a FIFO named index.html would block the read forever.
    let index = dir.join("index.html");
    let page = match std::fs::metadata(&index).is_ok_and(|m| m.is_file()) {
        true => std::fs::read_to_string(&index).unwrap_or_default(),
        false => String::new(),
    };
    if empty || dir.join(OURS).is_file() || page.contains("<title>shaderfit") {
        return check_writable(flag, &dir.with_extension("probe"));
    }
    Err(Error::flag(
        flag,
        format!(
            "{}: holds files that are not a shaderfit report; expected a new or empty directory, or an earlier report to replace",
            dir.display()
        ),
    ))
}

/// Writes the directory `dir` whole: `write` fills a fresh staging directory beside it, which
/// then takes `dir`'s place (the old one is moved aside and removed). A write that fails, or
/// a run killed midway, leaves the old `dir` complete and untouched; leftovers of a killed
/// write are removed the next time. `dir` then holds this write's files only.
pub fn replace_dir(dir: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let name = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let side = |what: &str| parent(dir).join(format!(".{name}.{}.{what}", std::process::id()));
    remove_stale_dirs(dir, &name);
    let (staging, old) = (side("staging"), side("old"));
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let written = write(&staging).and_then(|()| {
        std::fs::write(
            staging.join(OURS),
            b"written by shaderfit; replaced whole
",
        )
        .map_err(io(&staging))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(io(dir))?;
    }
    std::fs::rename(&staging, dir).map_err(io(dir))?;
    let _ = std::fs::remove_dir_all(&old);
    sync_dir(parent(dir));
    Ok(())
}

/// Staging and old directories of `dir` (named `name`) that killed writes left; an old one
/// goes back in place if the kill came between the two renames.
fn remove_stale_dirs(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent(dir)) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let ours = file.ends_with(".staging") || file.ends_with(".old");
        if !(file.starts_with(&prefix) && ours && entry.path().is_dir()) {
            continue;
        }
        if file.ends_with(".old") && !dir.exists() {
            let _ = std::fs::rename(entry.path(), dir);
        } else {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates `dir` (given by `flag`) if needed, before any training.
pub fn prepare_dir(flag: &'static str, dir: &Path) -> Result<()> {
    check_not_input(flag, dir)?;
    if let Some(meta) = std::fs::metadata(dir).ok().filter(|m| !m.is_dir()) {
        return Err(Error::flag(
            flag,
            format!(
                "{}: exists and is {}, not a directory",
                dir.display(),
                crate::input::describe(&meta)
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::flag(
            flag,
            format!("{}: cannot create the directory: {e}", dir.display()),
        )
    })
}

/// A named point where a test can stop the process on purpose, as a kill would:
/// `SHADERFIT_FAILPOINT=NAME` aborts the first time the run gets there, `NAME@N` the N-th
/// time. The kill tests (`tests/resume.rs`) stop a run at every stage of saving this way and
/// resume it. Unset (always, outside those tests), it is one lookup of a cached variable.
pub fn failpoint(name: &str) {
    static WANTED: std::sync::OnceLock<Option<(String, usize)>> = std::sync::OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let wanted = WANTED.get_or_init(|| {
        let text = std::env::var("SHADERFIT_FAILPOINT").ok()?;
        let (point, nth) = text.split_once('@').unwrap_or((&text, "1"));
        Some((point.to_string(), nth.parse().unwrap_or(1)))
    });
    if let Some((point, nth)) = wanted {
        if point == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth as u64 {
            eprintln!("failpoint {name}: stopping here, as a kill would");
            std::process::abort();
        }
    }
}

/// Replaces `path` with `bytes`, atomically and durably (see the module's notes); never one
/// of the command's inputs.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = resolve("output", path)?;
    let tmp = temporary(&target);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        failpoint("replace-before-rename");
        std::fs::rename(&tmp, &target).map_err(io(&target))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_dir(parent(&target));
    Ok(())
}

/// Checks that `path` (given by `flag`, or written beside what it names) may be replaced:
/// a regular file or nothing, and not one of the command's inputs.
pub fn check_target(flag: &'static str, path: &Path) -> Result<()> {
    resolve(flag, path).map(drop)
}

/// The file a write to `path` replaces: `path`, or the file a symlink points to. Refuses
/// what is not a regular file.
fn resolve(flag: &'static str, path: &Path) -> Result<PathBuf> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| {
            // A dangling link: write where it points.
            let link = std::fs::read_link(path).unwrap_or_default();
            parent(path).join(link)
        }),
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(m) if !m.is_file() => Err(Error::flag(
            flag,
            format!(
                "{}: exists and is {}; refusing to replace it",
                path.display(),
                crate::input::describe(&m)
            ),
        )),
        _ => check_not_input(flag, &target).map(|()| target),
    }
}

/// An error, naming `flag`, if `path` is one of the command's inputs.
fn check_not_input(flag: &'static str, path: &Path) -> Result<()> {
    match crate::input::is_input(path) {
        Some(input) => Err(Error::flag(flag, refusal(path, &input))),
        None => Ok(()),
    }
}

/// Why `path` is not written: it is the input `input` (the same file, perhaps by another
/// name).
fn refusal(path: &Path, input: &Path) -> String {
    let same = match path == input {
        true => String::new(),
        false => format!(" (the same file as {})", input.display()),
    };
    format!(
        "{}{same} is one of this command's inputs; refusing to replace it, give another path",
        path.display()
    )
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.<name>.<pid>.<n>.partial` beside `target`: unique to this process and write.
fn temporary(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent(target).join(format!(".{name}.{}.{n}.partial", std::process::id()))
}

/// Makes a rename durable (the directory entry); a no-op where directories cannot be opened.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// An advisory lock on an output path for the length of a run, so that a second run writing
/// the same checkpoint is refused at its start. Held on a hidden `.<name>.lock` beside it (a
/// directory's is `<dir>/.shaderfit.lock`), released when the run ends or dies.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    /// The lock file, removed on release (none: kept, see [`OutputLock::wait`]).
    path: Option<PathBuf>,
}

impl OutputLock {
    pub fn acquire(flag: &'static str, path: &Path) -> Result<OutputLock> {
        let lock = lock_path(path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|e| {
                Error::flag(
                    flag,
                    format!(
                        "{}: cannot create its lock {}: {e}",
                        path.display(),
                        lock.display()
                    ),
                )
            })?;
        file.try_lock().map_err(|_| {
            Error::flag(
                flag,
                format!(
                    "{} is being written by another shaderfit run; give this run another path",
                    path.display()
                ),
            )
        })?;
        remove_stale_partials(path);
        Ok(OutputLock {
            _file: file,
            path: Some(lock),
        })
    }

    /// Waits for the lock on `path`, for a short read-modify-write of a file that several
    /// runs share (the tuning file). Its lock file stays when it is released: removing it
    /// would let a waiter and a newcomer each lock a different file of the same name.
    pub fn wait(path: &Path) -> Result<OutputLock> {
        let lock = lock_path(path);
        let io = |source| Error::Io {
            path: lock.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(OutputLock {
            _file: file,
            path: None,
        })
    }
}

/// The lock file of `path` (of the file or directory a symlink points to, so that two links
/// to one checkpoint share one lock): `.shaderfit.lock` in a directory, `.NAME.lock` beside a
/// file.
fn lock_path(path: &Path) -> PathBuf {
    let resolved = std::fs::canonicalize(path);
    let path = resolved.as_deref().unwrap_or(path);
    if path.is_dir() {
        path.join(".shaderfit.lock")
    } else {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        parent(path).join(format!(".{name}.lock"))
    }
}

/// Temporary files a killed run left beside `path` and the files that go with it (a
/// checkpoint's `<stem>.state.safetensors`): we hold the lock, so no live writer owns them.
fn remove_stale_partials(path: &Path) {
    let (dir, name) = if path.is_dir() {
        (path, String::new())
    } else {
        (
            parent(path),
            format!(
                ".{}.",
                path.file_stem().unwrap_or_default().to_string_lossy()
            ),
        )
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with('.') && file.starts_with(&name) && file.ends_with(".partial") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}
