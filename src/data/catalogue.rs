//! The datasets shaderfit knows by name (`--dataset`, `data download`), each declared once as
//! an [`Entry`]: its classes, licence, where its files are and what they must hash to, and how
//! the downloaded files become data shaderfit reads ([`Packaging`]). [`DatasetKind::entry`]
//! maps each `--dataset` value to its entry with an exhaustive match, so a new dataset is a
//! variant, its entry here and the match arm the compiler asks for.
//!
//! Checksums are the publishers' or a major library's, as cited beside each entry.

use std::borrow::Cow;

/// The datasets shaderfit knows by name: each one's facts are its entry in the catalogue
/// ([`DatasetKind::entry`], below).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Kmnist,
    EmnistBalanced,
    EmnistLetters,
    Pathmnist,
    Organamnist,
    Pneumoniamnist,
    Cifar10,
}

impl serde::Serialize for DatasetKind {
    /// As `--dataset` names it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// Its name for class `c`: the digit for MNIST, the garment for Fashion-MNIST, ...; the
    /// number past the catalogue's names.
    pub fn class_name(self, c: usize) -> String {
        self.entry()
            .classes
            .get(c)
            .map_or_else(|| c.to_string(), |n| n.to_string())
    }

    /// The kind of this name, as [`DatasetKind::name`] writes it.
    pub fn from_name(name: &str) -> Option<DatasetKind> {
        use clap::ValueEnum;
        DatasetKind::value_variants()
            .iter()
            .copied()
            .find(|k| k.name() == name)
    }

    /// How a user can get the files, for the error shown when none are found.
    pub(super) fn how_to_get(self) -> String {
        let e = self.entry();
        let files: Vec<&str> = e.files.iter().map(|(f, _)| *f).collect();
        let mut how = format!(
            "run `shaderfit data download {}`, or download {} from {}",
            e.name,
            files.join(", "),
            e.mirrors[0]
        );
        if self == DatasetKind::FashionMnist {
            how += ", or install Debian's package with `apt-get install dataset-fashion-mnist`";
        }
        how + " into one of these places, or pass --data"
    }
}

/// A pinned checksum of a downloaded file, lowercase hex (borrowed in the catalogue, owned
/// where a caller pins its own files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checksum {
    Sha256(Cow<'static, str>),
    Md5(Cow<'static, str>),
}

impl Checksum {
    /// The algorithm's name, for messages.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Checksum::Sha256(_) => "SHA-256",
            Checksum::Md5(_) => "MD5",
        }
    }

    pub fn hex(&self) -> &str {
        match self {
            Checksum::Sha256(h) | Checksum::Md5(h) => h,
        }
    }
}

const fn sha256(hex: &'static str) -> Checksum {
    Checksum::Sha256(Cow::Borrowed(hex))
}

const fn md5(hex: &'static str) -> Checksum {
    Checksum::Md5(Cow::Borrowed(hex))
}

/// How the downloaded files become the data shaderfit reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packaging {
    /// The four IDX files of MNIST's layout, read as they are.
    Idx,
    /// One NPZ file (MedMNIST's layout), read as it is.
    Npz(&'static str),
    /// EMNIST's `gzip.zip`: one split's four IDX members become the dataset's IDX files,
    /// each image transposed upright (EMNIST stores them transposed) and `label_offset`
    /// taken off each label (letters are numbered from 1).
    EmnistZip {
        split: &'static str,
        label_offset: u8,
    },
    /// CIFAR-10's binary tarball: its batches (a label byte, then 32x32 red, green and blue
    /// planes) become [`CIFAR_NPZ`], Keras's layout, channels last.
    CifarBinary,
}

/// The file CIFAR-10's batches are prepared into.
pub const CIFAR_NPZ: &str = "cifar10.npz";

/// One dataset of the catalogue.
#[derive(Debug)]
pub struct Entry {
    /// Its `--dataset` name.
    pub name: &'static str,
    /// What it is, for listings.
    pub title: &'static str,
    /// Each class's name, by label.
    pub classes: &'static [&'static str],
    /// The licence line the publisher gives.
    pub licence: &'static str,
    /// Where the pinned checksums come from.
    pub checksums_from: &'static str,
    /// Base URLs, tried in order; a file's URL is the base followed by its name.
    pub mirrors: &'static [&'static str],
    pub files: &'static [(&'static str, Checksum)],
    pub packaging: Packaging,
    /// A system directory where a package installs it, if any.
    pub system_dir: Option<&'static str>,
}

const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// MNIST's four file names, which the IDX-packaged sets share.
const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

const fn idx_files(sums: [&'static str; 4]) -> [(&'static str, Checksum); 4] {
    [
        (IDX_FILES[0], sha256(sums[0])),
        (IDX_FILES[1], sha256(sums[1])),
        (IDX_FILES[2], sha256(sums[2])),
        (IDX_FILES[3], sha256(sums[3])),
    ]
}

pub const MNIST: Entry = Entry {
    name: "mnist",
    title: "MNIST handwritten digits, 28x28 grey, 60,000 + 10,000",
    classes: &DIGITS,
    licence: "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
    checksums_from: "the release files, as bundled in assets/mnist",
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    files: &idx_files([
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ]),
    packaging: Packaging::Idx,
    system_dir: None,
};

pub const FASHION_MNIST: Entry = Entry {
    name: "fashion-mnist",
    title: "Zalando's Fashion-MNIST, 28x28 grey, 60,000 + 10,000",
    classes: &[
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    licence: "MIT (Zalando SE)",
    checksums_from: "the release files of zalandoresearch/fashion-mnist",
    mirrors: &[
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    files: &idx_files([
        "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    ]),
    packaging: Packaging::Idx,
    system_dir: Some("/usr/share/datasets/fashion-mnist"),
};

pub const KMNIST: Entry = Entry {
    name: "kmnist",
    title: "Kuzushiji-MNIST, cursive Japanese hiragana, 28x28 grey, 60,000 + 10,000",
    classes: &["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
    licence: "CC BY-SA 4.0 (ROIS-DS Center for Open Data in the Humanities; Clanuwat et al. 2018)",
    checksums_from: "tensorflow_datasets, url_checksums/kmnist.txt",
    mirrors: &["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
    files: &idx_files([
        "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
        "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
        "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
        "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
    ]),
    packaging: Packaging::Idx,
    system_dir: None,
};

/// EMNIST's archive: every split in one zip (562 MB), fetched by each EMNIST set.
const EMNIST_ZIP: [(&str, Checksum); 1] = [(
    "gzip.zip",
    sha256("fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e"),
)];
const EMNIST_MIRRORS: [&str; 2] = [
    "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
    "https://biometrics.nist.gov/cs_links/EMNIST/",
];
const EMNIST_LICENCE: &str =
    "as published by NIST, no licence stated (Cohen et al. 2017, EMNIST); https://www.nist.gov/itl/products-and-services/emnist-dataset";

pub const EMNIST_BALANCED: Entry = Entry {
    name: "emnist-balanced",
    title: "EMNIST Balanced: digits and letters, 47 classes, 28x28 grey, 112,800 + 18,800",
    classes: &[
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H",
        "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
        "a", "b", "d", "e", "f", "g", "h", "n", "q", "r", "t",
    ],
    licence: EMNIST_LICENCE,
    checksums_from: "tensorflow_datasets, url_checksums/emnist.txt",
    mirrors: &EMNIST_MIRRORS,
    files: &EMNIST_ZIP,
    packaging: Packaging::EmnistZip {
        split: "balanced",
        label_offset: 0,
    },
    system_dir: None,
};

pub const EMNIST_LETTERS: Entry = Entry {
    name: "emnist-letters",
    title: "EMNIST Letters: a to z (upper and lower case merged), 28x28 grey, 88,800 + 14,800",
    classes: &[
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z",
    ],
    licence: EMNIST_LICENCE,
    checksums_from: "tensorflow_datasets, url_checksums/emnist.txt",
    mirrors: &EMNIST_MIRRORS,
    files: &EMNIST_ZIP,
    packaging: Packaging::EmnistZip {
        split: "letters",
        label_offset: 1,
    },
    system_dir: None,
};

/// MedMNIST v3's 28x28 files (Zenodo record 10519652), MD5s from medmnist/info.py.
const MEDMNIST_MIRRORS: [&str; 1] = ["https://zenodo.org/records/10519652/files/"];
const MEDMNIST_SUMS: &str = "MedMNIST/MedMNIST, medmnist/info.py (v3.0.2)";

pub const PATHMNIST: Entry = Entry {
    name: "pathmnist",
    title: "MedMNIST PathMNIST: colon pathology tissue, 28x28 RGB, 89,996 + 7,180",
    classes: &[
        "adipose",
        "background",
        "debris",
        "lymphocytes",
        "mucus",
        "smooth muscle",
        "normal colon mucosa",
        "cancer-associated stroma",
        "colorectal adenocarcinoma epithelium",
    ],
    licence: "CC BY 4.0 (MedMNIST v3; Yang et al. 2023)",
    checksums_from: MEDMNIST_SUMS,
    mirrors: &MEDMNIST_MIRRORS,
    files: &[("pathmnist.npz", md5("a8b06965200029087d5bd730944a56c1"))],
    packaging: Packaging::Npz("pathmnist.npz"),
    system_dir: None,
};

pub const ORGANAMNIST: Entry = Entry {
    name: "organamnist",
    title: "MedMNIST OrganAMNIST: abdominal CT, axial, 28x28 grey, 34,561 + 17,778",
    classes: &[
        "bladder",
        "femur-left",
        "femur-right",
        "heart",
        "kidney-left",
        "kidney-right",
        "liver",
        "lung-left",
        "lung-right",
        "pancreas",
        "spleen",
    ],
    licence: "CC BY 4.0 (MedMNIST v3; Yang et al. 2023)",
    checksums_from: MEDMNIST_SUMS,
    mirrors: &MEDMNIST_MIRRORS,
    files: &[("organamnist.npz", md5("68e3f8846a6bd62f0c9bf841c0d9eacc"))],
    packaging: Packaging::Npz("organamnist.npz"),
    system_dir: None,
};

pub const PNEUMONIAMNIST: Entry = Entry {
    name: "pneumoniamnist",
    title: "MedMNIST PneumoniaMNIST: paediatric chest X-rays, 28x28 grey, 4,708 + 624",
    classes: &["normal", "pneumonia"],
    licence: "CC BY 4.0 (MedMNIST v3; Yang et al. 2023)",
    checksums_from: MEDMNIST_SUMS,
    mirrors: &MEDMNIST_MIRRORS,
    files: &[(
        "pneumoniamnist.npz",
        md5("28209eda62fecd6e6a2d98b1501bb15f"),
    )],
    packaging: Packaging::Npz("pneumoniamnist.npz"),
    system_dir: None,
};

pub const CIFAR10: Entry = Entry {
    name: "cifar10",
    title: "CIFAR-10: 32x32 RGB photographs, 50,000 + 10,000",
    classes: &[
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
    licence: "no licence stated; the publisher asks to cite Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images",
    checksums_from: "tensorflow_datasets, url_checksums/cifar10.txt (binary version)",
    mirrors: &["https://www.cs.toronto.edu/~kriz/"],
    files: &[(
        "cifar-10-binary.tar.gz",
        sha256("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    )],
    packaging: Packaging::CifarBinary,
    system_dir: None,
};

impl Entry {
    /// The one file the dataset is read from, where it is not MNIST's four IDX files.
    pub fn prepared_file(&self) -> Option<&'static str> {
        match self.packaging {
            Packaging::Npz(file) => Some(file),
            Packaging::CifarBinary => Some(CIFAR_NPZ),
            Packaging::Idx | Packaging::EmnistZip { .. } => None,
        }
    }
}

impl DatasetKind {
    /// Its entry in the catalogue.
    pub fn entry(self) -> &'static Entry {
        match self {
            DatasetKind::Mnist => &MNIST,
            DatasetKind::FashionMnist => &FASHION_MNIST,
            DatasetKind::Kmnist => &KMNIST,
            DatasetKind::EmnistBalanced => &EMNIST_BALANCED,
            DatasetKind::EmnistLetters => &EMNIST_LETTERS,
            DatasetKind::Pathmnist => &PATHMNIST,
            DatasetKind::Organamnist => &ORGANAMNIST,
            DatasetKind::Pneumoniamnist => &PNEUMONIAMNIST,
            DatasetKind::Cifar10 => &CIFAR10,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// Each `--dataset` value is its entry's name, and the names are distinct.
    #[test]
    fn every_kind_is_named_by_its_entry() {
        let names: Vec<&str> = DatasetKind::value_variants()
            .iter()
            .map(|k| {
                let value = k.to_possible_value().expect("a value");
                assert_eq!(value.get_name(), k.entry().name);
                k.entry().name
            })
            .collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
    }
}
