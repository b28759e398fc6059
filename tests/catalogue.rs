//! The catalogue's packagings through the download path: an HTTP server on 127.0.0.1 serves
//! fixtures made here in each publisher's format (EMNIST's zip of gzipped IDX members,
//! CIFAR-10's binary tarball, a MedMNIST NPZ checked by MD5, KMNIST's four IDX files), each is
//! downloaded and checked against its pinned checksum, prepared, and read back as the data it
//! was made from (EMNIST's images turned upright and its letters numbered from 0, CIFAR-10's
//! planes channels-last), with the catalogue's class names.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use sha2::Digest;
use shaderfit::data::catalogue::Checksum;
use shaderfit::data::download::{download, Pinned, Source};
use shaderfit::data::idx::{encode_images, encode_labels, IdxImages};
use shaderfit::data::open::open_as;
use shaderfit::data::prepare::prepare;
use shaderfit::data::{Dataset, DatasetKind, Split};
use shaderfit::floor::Shape;
use support::npz::{npy, write_npz};
use support::TempDir;

/// Serves `files` by name (any directory) over HTTP/1.1; anything else is 404.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
                    break;
                }
            }
            let name = path.rsplit('/').next().unwrap_or("");
            let (status, body) = match files.get(name) {
                Some(body) => ("200 OK", body.as_slice()),
                None => ("404 Not Found", &[][..]),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    base
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Downloads `files` from the server as `kind`'s source would (its packaging, checksums of
/// the fixtures in the kind's algorithm), prepares them and opens the dataset.
fn fetched(kind: DatasetKind, base: &str, files: &[(&str, &[u8])], dir: &Path) -> Dataset {
    let md5 = matches!(kind.entry().files[0].1, Checksum::Md5(_));
    let source = Source {
        mirrors: vec![base.to_string()],
        files: files
            .iter()
            .map(|(name, bytes)| Pinned {
                name: name.to_string(),
                checksum: match md5 {
                    true => Checksum::Md5(hex(&md5::Md5::digest(bytes)).into()),
                    false => Checksum::Sha256(hex(&sha2::Sha256::digest(bytes)).into()),
                },
            })
            .collect(),
    };
    download(&source, dir, &mut |_| {}).unwrap();
    prepare(kind.entry().packaging, files[0].0, dir).unwrap();
    open_as(kind, (Some(dir), None), &Default::default()).unwrap()
}

/// EMNIST Letters: the zip's members hold the images transposed and labels 1 to 26.
fn emnist_zip(data: &Dataset) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (part, split) in [("train", &data.train), ("test", &data.test)] {
        let side = data.rows;
        let transposed: Vec<u8> = split
            .images
            .chunks(side * side)
            .flat_map(|img| (0..side * side).map(move |i| img[(i % side) * side + i / side]))
            .collect();
        let images = IdxImages {
            count: split.len(),
            rows: side,
            cols: side,
            pixels: transposed.into(),
        };
        let labels: Vec<u8> = split.labels.iter().map(|l| l + 1).collect();
        let members = [
            (
                format!("gzip/emnist-letters-{part}-images-idx3-ubyte.gz"),
                encode_images(&images),
            ),
            (
                format!("gzip/emnist-letters-{part}-labels-idx1-ubyte.gz"),
                encode_labels(&labels),
            ),
        ];
        for (name, bytes) in members {
            zip.start_file(name, options).unwrap();
            zip.write_all(&gzip(&bytes)).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// CIFAR-10's binary tarball: records of a label and three 32x32 planes.
fn cifar_tar(data: &Dataset) -> Vec<u8> {
    let record = |split: &Split, i: usize| -> Vec<u8> {
        let img = &split.images[i * 3072..(i + 1) * 3072];
        let mut out = vec![split.labels[i]];
        for c in 0..3 {
            out.extend((0..1024).map(|p| img[p * 3 + c]));
        }
        out
    };
    let mut tar = tar::Builder::new(Vec::new());
    // Two training batches (the real set has five) and the test batch.
    let half = data.train.len() / 2;
    let batches = [
        ("data_batch_1.bin", &data.train, 0..half),
        ("data_batch_2.bin", &data.train, half..data.train.len()),
        ("test_batch.bin", &data.test, 0..data.test.len()),
    ];
    for (name, split, range) in batches {
        let bytes: Vec<u8> = range.flat_map(|i| record(split, i)).collect();
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("cifar-10-batches-bin/{name}"),
            bytes.as_slice(),
        )
        .unwrap();
    }
    gzip(&tar.into_inner().unwrap())
}

fn assert_same(got: &Dataset, want: &Dataset, kind: DatasetKind) {
    assert_eq!(got.image(), want.image(), "{kind:?}");
    for (g, w) in [(&got.train, &want.train), (&got.test, &want.test)] {
        assert!(
            g.images == w.images && g.labels == w.labels,
            "{kind:?}: the splits differ"
        );
    }
    let names: Vec<String> = (0..got.classes).map(|c| kind.class_name(c)).collect();
    assert_eq!(got.class_names, names, "{kind:?}");
}

#[test]
fn every_packaging_downloads_prepares_and_reads_back() {
    let dir = TempDir::new("catalogue");
    let letters = support::synthetic_images(40, 12, Shape::new(6, 6, 1), 26);
    let cifar = support::synthetic_images(30, 10, Shape::new(32, 32, 3), 10);
    let path = support::synthetic_images(30, 10, Shape::new(5, 5, 3), 9);
    let kmnist = support::synthetic_dataset(30, 10, 7, 7, 10);
    let medmnist = vec![
        ("train_images", npy(&path.train.images, &[30, 5, 5, 3])),
        (
            "train_labels",
            npy(
                &path
                    .train
                    .labels
                    .iter()
                    .map(|&l| l as i64)
                    .collect::<Vec<_>>(),
                &[30, 1],
            ),
        ),
        ("test_images", npy(&path.test.images, &[10, 5, 5, 3])),
        (
            "test_labels",
            npy(
                &path
                    .test
                    .labels
                    .iter()
                    .map(|&l| l as i64)
                    .collect::<Vec<_>>(),
                &[10, 1],
            ),
        ),
    ];
    let npz = dir.path().join("fixture.npz");
    write_npz(&npz, &medmnist, true);
    let idx = dir.path().join("kmnist-idx");
    support::write_dataset(&idx, &kmnist, true);
    let idx_files: Vec<(&str, Vec<u8>)> = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    .iter()
    .map(|n| (*n, std::fs::read(idx.join(n)).unwrap()))
    .collect();
    let mut served: HashMap<String, Vec<u8>> = HashMap::from([
        ("gzip.zip".to_string(), emnist_zip(&letters)),
        ("cifar-10-binary.tar.gz".to_string(), cifar_tar(&cifar)),
        ("pathmnist.npz".to_string(), std::fs::read(&npz).unwrap()),
    ]);
    served.extend(idx_files.iter().map(|(n, b)| (n.to_string(), b.clone())));
    let base = serve(served.clone());
    fn file<'a>(served: &'a HashMap<String, Vec<u8>>, name: &'a str) -> (&'a str, &'a [u8]) {
        (name, served[name].as_slice())
    }
    let file = |name: &'static str| file(&served, name);
    let at = |name: &str| dir.path().join(name);
    let cases = [
        (DatasetKind::EmnistLetters, vec![file("gzip.zip")], &letters),
        (
            DatasetKind::Cifar10,
            vec![file("cifar-10-binary.tar.gz")],
            &cifar,
        ),
        (DatasetKind::Pathmnist, vec![file("pathmnist.npz")], &path),
        (
            DatasetKind::Kmnist,
            idx_files.iter().map(|(n, _)| file(n)).collect(),
            &kmnist,
        ),
    ];
    for (kind, files, want) in cases {
        let got = fetched(kind, &base, &files, &at(kind.name()));
        assert_same(&got, want, kind);
        // Prepared once: a second pass keeps what is there.
        prepare(kind.entry().packaging, files[0].0, &at(kind.name())).unwrap();
    }
}
