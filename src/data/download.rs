//! `shaderfit data download`: the four files of a dataset, fetched from its public mirrors in
//! order into the cache directory that discovery reads, each checked against a SHA-256 pinned
//! here. A partial download (`<file>.part`) resumes with an HTTP range request, from any
//! mirror (they serve the same bytes); a file that fails its check is deleted, never kept.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::dataset::DatasetKind;
use crate::error::{Error, Result};

/// One file to fetch: its name (also on the mirrors) and its SHA-256, hex.
#[derive(Clone, Debug)]
pub struct Pinned {
    pub name: String,
    pub sha256: String,
}

/// Where a dataset's files are, and what they must hash to.
#[derive(Clone, Debug)]
pub struct Source {
    /// Base URLs, tried in order; a file's URL is the base followed by its name.
    pub mirrors: Vec<String>,
    pub files: Vec<Pinned>,
}

impl Source {
    /// The pinned source of a dataset shaderfit knows. The hashes are of the original release
    /// files (MNIST's as bundled in `assets/mnist`).
    pub fn of(kind: DatasetKind) -> Source {
        let (mirrors, files): (&[&str], [(&str, &str); 4]) = match kind {
            DatasetKind::Mnist => (
                &[
                    "https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                ],
                [
                    ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
                    ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
                    ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
                    ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
                ],
            ),
            DatasetKind::FashionMnist => (
                &[
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                ],
                [
                    ("train-images-idx3-ubyte.gz", "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
                    ("train-labels-idx1-ubyte.gz", "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"),
                    ("t10k-images-idx3-ubyte.gz", "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
                    ("t10k-labels-idx1-ubyte.gz", "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"),
                ],
            ),
        };
        Source {
            mirrors: mirrors.iter().map(|m| m.to_string()).collect(),
            files: files
                .iter()
                .map(|(name, sha256)| Pinned {
                    name: name.to_string(),
                    sha256: sha256.to_string(),
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
        if target.is_file() && sha256_of(&target)? == file.sha256 {
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
                let got = sha256_of(&part)?;
                if got == file.sha256 {
                    return std::fs::rename(&part, target).map_err(|e| Error::Io {
                        path: target.to_path_buf(),
                        source: e,
                    });
                }
                // Never kept: a wrong file is not resumed from either.
                let _ = std::fs::remove_file(&part);
                format!("its SHA-256 is {got}, expected {}; deleted", file.sha256)
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

fn sha256_of(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut hasher = Sha256::new();
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
