//! A split's bytes as the host holds them: read into memory (compressed files, the other
//! formats), or memory-mapped from an uncompressed IDX file, so that a set larger than the
//! host's free memory costs no copy: its pages come from the page cache as they are read,
//! and a pass over the whole set drops them behind it ([`Pixels::sweep`]), so that uploading
//! a set to the GPU does not hold it in host memory twice.
//!
//! A mapped file must not change while it is open (as with any memory map): shaderfit never
//! writes one of its inputs, and the IDX reader checked its size when it mapped it.

use std::fmt;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

/// Bytes in memory or a window of a memory-mapped file; reads as `&[u8]`. Clones share the
/// bytes (a run keeps a streamed set's without copying it).
#[derive(Clone)]
pub struct Pixels(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Arc<Vec<u8>>),
    Mapped {
        map: Arc<Mmap>,
        start: usize,
        len: usize,
    },
}

impl Pixels {
    /// The bytes `range` of `map` (a file mapped whole).
    pub fn mapped(map: Arc<Mmap>, range: std::ops::Range<usize>) -> Pixels {
        assert!(range.end <= map.len(), "a window inside the map");
        Pixels(Repr::Mapped {
            map,
            start: range.start,
            len: range.len(),
        })
    }

    /// Whether the bytes are a file's pages rather than a copy in memory.
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped { .. })
    }

    /// The bytes as a vector to change (a mapped window or shared bytes are copied first), as
    /// `Cow::to_mut`.
    pub fn to_mut(&mut self) -> &mut Vec<u8> {
        if let Repr::Mapped { .. } = self.0 {
            self.0 = Repr::Owned(Arc::new(self.deref().to_vec()));
        }
        match &mut self.0 {
            Repr::Owned(v) => Arc::make_mut(v),
            Repr::Mapped { .. } => unreachable!("copied above"),
        }
    }

    /// Calls `f` on consecutive pieces of at most `piece` bytes, in order; a mapped window's
    /// pages are dropped from this process behind each piece (they stay in the page cache and
    /// read back from the file if touched again), so a whole pass costs one piece of memory.
    pub fn sweep(&self, piece: usize, mut f: impl FnMut(usize, &[u8])) {
        for (i, chunk) in self.chunks(piece.max(1)).enumerate() {
            f(i * piece.max(1), chunk);
            self.release(i * piece.max(1), chunk.len());
        }
    }

    /// Drops the pages of bytes `[offset, offset + len)` of a mapped window from this process
    /// (no effect on bytes in memory).
    #[cfg(unix)]
    fn release(&self, offset: usize, len: usize) {
        let Repr::Mapped { map, start, .. } = &self.0 else {
            return;
        };
        // madvise works on whole pages: only those wholly inside the range are dropped.
        let page = 4096;
        let from = (start + offset).next_multiple_of(page);
        let to = (start + offset + len) / page * page;
        if to > from {
            // SAFETY: the map is read-only and private: dropping its pages loses nothing,
            // they read back from the file on the next access.
            let advice = memmap2::UncheckedAdvice::DontNeed;
            let _ = unsafe { map.unchecked_advise_range(advice, from, to - from) };
        }
    }

    /// Elsewhere the pages stay until the map is closed.
    #[cfg(not(unix))]
    fn release(&self, _offset: usize, _len: usize) {}
}

/// Maps `path` whole, read-only; `None` where it cannot be mapped (an empty file, a pipe), for
/// the caller to read it instead.
pub fn map_file(path: &Path) -> Option<Arc<Mmap>> {
    let file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() == 0 {
        return None;
    }
    // SAFETY: the file is an input, which shaderfit never writes (outputs refuse input
    // paths); a file changed by another process while mapped is the documented caveat above.
    unsafe { Mmap::map(&file) }.ok().map(Arc::new)
}

impl Deref for Pixels {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Mapped { map, start, len } => &map[*start..start + len],
        }
    }
}

impl AsRef<[u8]> for Pixels {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Vec<u8>> for Pixels {
    fn from(v: Vec<u8>) -> Pixels {
        Pixels(Repr::Owned(Arc::new(v)))
    }
}

impl FromIterator<u8> for Pixels {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Pixels {
        Pixels::from(iter.into_iter().collect::<Vec<u8>>())
    }
}

impl Default for Pixels {
    fn default() -> Pixels {
        Pixels::from(Vec::new())
    }
}

impl PartialEq for Pixels {
    fn eq(&self, other: &Pixels) -> bool {
        self.deref() == other.deref()
    }
}

impl Eq for Pixels {}

impl PartialEq<Vec<u8>> for Pixels {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.deref() == other.as_slice()
    }
}

impl fmt::Debug for Pixels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.is_mapped() {
            "mapped"
        } else {
            "in memory"
        };
        write!(f, "Pixels({} bytes {how})", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep visits every byte once, in order, in pieces of the size asked (the last
    /// shorter), mapped or in memory, and a mapped window reads the same after its pages are
    /// dropped.
    #[test]
    fn a_sweep_visits_every_byte_in_order() {
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let path = std::env::temp_dir().join(format!("shaderfit-pixels-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let map = map_file(&path).unwrap();
        let mapped = Pixels::mapped(map, 3..bytes.len());
        let owned = Pixels::from(bytes[3..].to_vec());
        for p in [&mapped, &owned] {
            let mut seen = Vec::new();
            let mut offsets = Vec::new();
            p.sweep(4096, |at, piece| {
                offsets.push(at);
                seen.extend_from_slice(piece);
            });
            assert_eq!(seen, &bytes[3..]);
            assert_eq!(offsets, [0, 4096, 8192, 12288, 16384]);
            assert_eq!(**p, bytes[3..]);
        }
        assert!(mapped.is_mapped() && !owned.is_mapped());
        assert_eq!(mapped, owned);
        std::fs::remove_file(path).unwrap();
    }
}
