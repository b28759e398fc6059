//! `shaderfit data download`: a dataset's files, fetched from its public mirrors in order into
//! the cache directory that discovery reads, each checked against the checksum the catalogue
//! pins ([`super::catalogue`]). A partial download (`<file>.part`) resumes with an HTTP range request, from any
//! mirror (they serve the same bytes); a file that fails its check is deleted, never kept.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::catalogue::Checksum;
use super::catalogue::DatasetKind;
use crate::error::{Error, Result};

/// One file to fetch: its name (also on the mirrors) and its checksum.
#[derive(Clone, Debug)]
pub struct Pinned {
    pub name: String,
    pub checksum: Checksum,
}

/// Where a dataset's files are, and what they must hash to.
#[derive(Clone, Debug)]
pub struct Source {
    /// Base URLs, tried in order; a file's URL is the base followed by its name.
    pub mirrors: Vec<String>,
    pub files: Vec<Pinned>,
}

impl Source {
    /// The pinned source of a dataset of the catalogue.
    pub fn of(kind: DatasetKind) -> Source {
        let entry = kind.entry();
        Source {
            mirrors: entry.mirrors.iter().map(|m| m.to_string()).collect(),
            files: entry
                .files
                .iter()
                .map(|(name, checksum)| Pinned {
                    name: name.to_string(),
                    checksum: checksum.clone(),
                })
                .collect(),
        }
    }
}

/// What happens, for a progress display.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A file is already there and checks out.
    Present { file: String },
    /// A transfer starts: from `offset` (a resumed partial file) of `total` bytes, if known.
    Start {
        file: String,
        url: String,
        offset: u64,
        total: Option<u64>,
    },
    /// Bytes received so far of the current file.
    Progress { bytes: u64 },
    /// A file arrived and checks out.
    Done { file: String },
    /// A mirror failed for a file; the next is tried.
    Failed { url: String, reason: String },
}

/// Fetches every file of `source` into `dir` (created if needed). Errors when a file cannot be
/// had from any mirror, listing why each failed.
pub fn download(source: &Source, dir: &Path, report: &mut dyn FnMut(Event)) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for file in &source.files {
        let target = dir.join(&file.name);
        if target.is_file() && checksum_of(&target, &file.checksum)? == file.checksum.hex() {
            report(Event::Present {
                file: file.name.clone(),
            });
            continue;
        }
        fetch(source, file, &target, report)?;
        report(Event::Done {
            file: file.name.clone(),
        });
    }
    Ok(())
}

/// One file, from the first mirror that delivers it whole and correct.
fn fetch(
    source: &Source,
    file: &Pinned,
    target: &Path,
    report: &mut dyn FnMut(Event),
) -> Result<()> {
    let part = partial(target);
    let mut failures = Vec::new();
    for mirror in &source.mirrors {
        let url = format!("{mirror}{}", file.name);
        let reason = match transfer(&url, &part, &file.name, report) {
            Err(reason) => reason,
            Ok(()) => {
                let got = checksum_of(&part, &file.checksum)?;
                if got == file.checksum.hex() {
                    return std::fs::rename(&part, target).map_err(|e| Error::Io {
                        path: target.to_path_buf(),
                        source: e,
                    });
                }
                // Never kept: a wrong file is not resumed from either.
                let _ = std::fs::remove_file(&part);
                let algorithm = file.checksum.algorithm();
                format!(
                    "its {algorithm} is {got}, expected {}; deleted",
                    file.checksum.hex()
                )
            }
        };
        report(Event::Failed {
            url: url.clone(),
            reason: reason.clone(),
        });
        failures.push(format!("{url}: {reason}"));
    }
    Err(Error::Dataset(format!(
        "could not download {}: {}",
        file.name,
        failures.join("; ")
    )))
}

/// `<file>.part` beside `target`.
fn partial(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Appends `url`'s bytes to `part`, resuming from its length with a range request. Errors are
/// the reason, for the report; the partial file is kept for the next attempt.
fn transfer(
    url: &str,
    part: &Path,
    file: &str,
    report: &mut dyn FnMut(Event),
) -> Result<(), String> {
    let offset = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = ureq::get(url);
    if offset > 0 {
        request = request.header("Range", &format!("bytes={offset}-"));
    }
    let mut response = request.call().map_err(|e| e.to_string())?;
    let resumed = response.status().as_u16() == 206;
    let offset = if resumed { offset } else { 0 };
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    report(Event::Start {
        file: file.into(),
        url: url.into(),
        offset,
        total: length.map(|l| l + offset),
    });
    let mut out = OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(part)
        .map_err(|e| format!("{}: {e}", part.display()))?;
    let mut body = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut received = offset;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = body
            .read(&mut buffer)
            .map_err(|e| format!("transfer cut at byte {received}: {e}"))?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n])
            .map_err(|e| format!("{}: {e}", part.display()))?;
        received += n as u64;
        report(Event::Progress { bytes: received });
    }
    out.sync_all()
        .map_err(|e| format!("{}: {e}", part.display()))?;
    match length {
        Some(l) if received != offset + l => {
            Err(format!("transfer cut at byte {received} of {}", offset + l))
        }
        _ => Ok(()),
    }
}

/// `path`'s checksum in `pinned`'s algorithm, lowercase hex.
fn checksum_of(path: &Path, pinned: &Checksum) -> Result<String> {
    match pinned {
        Checksum::Sha256(_) => hash_file::<Sha256>(path),
        Checksum::Md5(_) => hash_file::<md5::Md5>(path),
    }
}

fn hash_file<D: Digest>(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut hasher = D::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
