//! `data download` against an HTTP server this test starts on 127.0.0.1, serving fixture
//! files: a dead first mirror falls through to the second, a corrupt file is rejected and
//! removed, and an interrupted transfer resumes with a range request.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use shaderfit::data::catalogue::Checksum;
use shaderfit::data::download::{download, Event, Pinned, Source};
use support::TempDir;

/// The served file: 100 kB of a repeating pattern.
fn fixture() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A tiny HTTP/1.1 server. Paths: `/good/` serves the fixture (with `Range` support),
/// `/corrupt/` a copy with one byte changed, `/cut/` sends the full length but only half the
/// body on its first request and behaves as `/good/` after; anything else is 404. Returns the
/// base URL and the `Range` headers it was sent.
fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges.clone();
    std::thread::spawn(move || {
        let mut cut_once = true;
        for stream in listener.incoming().flatten() {
            let cut = handle(stream, &seen, cut_once);
            cut_once &= !cut;
        }
    });
    (base, ranges)
}

/// Answers one request; true when it cut a transfer short.
fn handle(mut stream: TcpStream, ranges: &Mutex<Vec<String>>, cut_once: bool) -> bool {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut from = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("range: bytes=") {
            from = v.trim().trim_end_matches('-').parse().unwrap();
            ranges.lock().unwrap().push(header.trim().to_string());
        }
    }
    let mut body = fixture();
    if path.starts_with("/corrupt/") {
        body[5000] ^= 0xff;
    } else if !path.starts_with("/good/") && !path.starts_with("/cut/") {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return false;
    }
    let status = if from > 0 {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let rest = &body[from..];
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        rest.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let cut = path.starts_with("/cut/") && cut_once;
    let _ = stream.write_all(if cut { &rest[..rest.len() / 2] } else { rest });
    cut
}

fn source(base: &str, mirrors: &[&str]) -> Source {
    Source {
        mirrors: mirrors.iter().map(|m| format!("{base}/{m}/")).collect(),
        files: vec![Pinned {
            name: "data.gz".into(),
            checksum: Checksum::Sha256(sha256(&fixture()).into()),
        }],
    }
}

#[test]
fn a_dead_mirror_falls_through_to_the_next() {
    let (base, _) = serve();
    let dir = TempDir::new("dl-dead");
    let mut events = Vec::new();
    download(&source(&base, &["dead", "good"]), dir.path(), &mut |e| {
        events.push(e)
    })
    .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("data.gz")).unwrap(),
        fixture()
    );
    assert!(
        matches!(&events[0], Event::Failed { url, .. } if url.contains("/dead/")),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::Done {
            file: "data.gz".into()
        })
    );
    // A second run finds it there and checks it.
    let mut again = Vec::new();
    download(&source(&base, &["good"]), dir.path(), &mut |e| {
        again.push(e)
    })
    .unwrap();
    assert_eq!(
        again,
        [Event::Present {
            file: "data.gz".into()
        }]
    );
}

#[test]
fn a_corrupt_file_is_rejected_and_removed() {
    let (base, _) = serve();
    let dir = TempDir::new("dl-corrupt");
    let err = download(&source(&base, &["corrupt"]), dir.path(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("could not download data.gz") && err.contains("SHA-256"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing is kept: {left:?}");
}

#[test]
fn an_interrupted_transfer_resumes() {
    let (base, ranges) = serve();
    let dir = TempDir::new("dl-cut");
    let mut events = Vec::new();
    download(&source(&base, &["cut", "cut"]), dir.path(), &mut |e| {
        events.push(e)
    })
    .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("data.gz")).unwrap(),
        fixture()
    );
    // Header names are case-insensitive; ureq sends them lower-case.
    let sent: Vec<String> = ranges
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.to_lowercase())
        .collect();
    assert_eq!(sent, ["range: bytes=50000-"], "resumed at the cut");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Start { offset: 50000, .. })),
        "{events:?}"
    );
    assert!(!dir.path().join("data.gz.part").exists());
}
