//! Random affine augmentation of training images (`--augment shift=2,rotate=10,zoom=0.1`):
//! each sample of each step gets its own shift, rotation, zoom and shear, drawn by a
//! counter-based hash of (seed, step, row), so no random state is stored and the gather
//! kernel (which applies it while it builds the batch, with bilinear sampling) and its CPU
//! twin draw the same. Evaluation augments only for test-time augmentation (`--tta`), whose
//! copies draw from seeds of their own.

use super::rng::{pcg_hash, SplitMix64};

/// The ranges of the random transform; each is drawn uniformly in `[-x, x]` (zoom: a scale in
/// `[1 - zoom, 1 + zoom]`).
/// What a row's draws are keyed by, besides the seed (as `gather.wgsl` keys them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DrawKey {
    /// Training: the optimizer's step count `t` and the row in the batch, new every step.
    Step(u32),
    /// Test-time augmentation: the sample's position in the pass, with `t` = 0, the same
    /// whatever the batch.
    Position,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Augment {
    /// Pixels, along each axis.
    pub shift: f32,
    /// Degrees.
    pub rotate: f32,
    /// Fraction of the size.
    pub zoom: f32,
    /// Degrees of shear along x (Keras's `shear_range`, in degrees).
    pub shear: f32,
    /// Pixels of elastic distortion: a smooth random displacement field, interpolated from
    /// [`ELASTIC_NODES`]² random offsets in `[-elastic, elastic]` per axis (a coarse-grid form
    /// of Simard et al.'s elastic distortion, cheap enough to draw per pixel as it is gathered).
    pub elastic: f32,
}

/// Nodes per axis of the elastic displacement grid: 4 spans a 28-pixel image with nodes about
/// 9 pixels apart, the smoothness of Simard et al.'s sigma 4 to 6.
pub const ELASTIC_NODES: usize = 4;

/// Mixed into the seed of elastic draws, so they are a stream apart from the affine draws.
pub const ELASTIC_SALT: u32 = 0x85EB_CA6B;

/// The 32-bit seed of a run's augmentation draws, from the run's seed (a stream of its own, as
/// dropout's masks have).
pub fn seed32(seed: u64) -> u32 {
    const AUGMENT_STREAM: u64 = 1 << 21;
    (SplitMix64::for_stream(seed, AUGMENT_STREAM).next_u64() >> 32) as u32
}

/// The seed of test-time augmentation's copy `copy` (1, 2, ...; copy 0 is the plain image):
/// a stream per copy, apart from training's.
pub fn tta_seed32(seed: u64, copy: usize) -> u32 {
    const TTA_STREAM: u64 = 1 << 22;
    let stream = TTA_STREAM + copy as u64;
    (SplitMix64::for_stream(seed, stream).next_u64() >> 32) as u32
}

/// The draws of one sample, before scaling by the ranges: five uniforms in `[0, 1)`.
pub const DRAWS: u32 = 5;

/// Uniform `k` of `row` at step `t` in `[0, 1)`, exact in f32 (24 bits).
pub fn uniform(seed: u32, t: u32, row: u32, k: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(row * DRAWS + k) ^ t) ^ seed);
    (h >> 8) as f32 / 16_777_216.0
}

/// Draw `k` (< 32) of `row`'s elastic grid at step `t`, in `[-1, 1)`: node `n`'s x offset is
/// draw `2n`, its y offset `2n + 1`.
pub fn elastic_draw(seed: u32, t: u32, row: u32, k: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(row * 32 + k) ^ t) ^ (seed ^ ELASTIC_SALT));
    2.0 * ((h >> 8) as f32 / 16_777_216.0) - 1.0
}

/// A sample's transform: rotation and shear in radians, scale, shift in pixels (x, y), and
/// the elastic grid's node offsets in pixels (`[node_y * ELASTIC_NODES + node_x] = (x, y)`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    pub angle: f32,
    pub scale: f32,
    pub shear: f32,
    pub shift: (f32, f32),
    pub elastic: Option<[(f32, f32); ELASTIC_NODES * ELASTIC_NODES]>,
}

/// The elastic displacement at pixel (r, c) of a `rows` x `cols` image: the grid's offsets
/// interpolated bilinearly, with the f32 operations of `elastic_offset` in `gather.wgsl`.
fn elastic_offset(
    nodes: &[(f32, f32); ELASTIC_NODES * ELASTIC_NODES],
    (r, c): (usize, usize),
    (rows, cols): (usize, usize),
) -> (f32, f32) {
    let last = (ELASTIC_NODES - 1) as f32;
    let u = c as f32 * last / (cols.max(2) - 1) as f32;
    let v = r as f32 * last / (rows.max(2) - 1) as f32;
    let (i, j) = (u.floor().min(last - 1.0), v.floor().min(last - 1.0));
    let (fu, fv) = (u - i, v - j);
    let at = |di: usize, dj: usize| nodes[(j as usize + dj) * ELASTIC_NODES + i as usize + di];
    let lerp = |a: f32, b: f32, f: f32| a * (1.0 - f) + b * f;
    let (n00, n10, n01, n11) = (at(0, 0), at(1, 0), at(0, 1), at(1, 1));
    let x = lerp(lerp(n00.0, n10.0, fu), lerp(n01.0, n11.0, fu), fv);
    let y = lerp(lerp(n00.1, n10.1, fu), lerp(n01.1, n11.1, fu), fv);
    (x, y)
}

impl Transform {
    /// Element `i` of `src` (`[rows, cols, channels]` u8) drawn through this transform, in
    /// [0, 1]: the destination pixel mapped back through the inverse of rotate * shear *
    /// zoom about the centre (after the shift) and sampled bilinearly, zeros outside, with the
    /// f32 operations of `augmented` in `gather.wgsl`, in its order.
    pub fn sample(
        &self,
        src: &[u8],
        (rows, cols, channels): (usize, usize, usize),
        i: usize,
    ) -> f32 {
        let tr = self;
        let (ch, pix) = (i % channels, i / channels);
        let (r, c) = (pix / cols, pix % cols);
        let pixel = |r: i64, c: i64| -> f32 {
            if r < 0 || c < 0 || r >= rows as i64 || c >= cols as i64 {
                return 0.0;
            }
            src[(r as usize * cols + c as usize) * channels + ch] as f32 / 255.0
        };
        let (ex, ey) = tr.elastic.map_or((0.0, 0.0), |nodes| {
            elastic_offset(&nodes, (r, c), (rows, cols))
        });
        let cx = (cols - 1) as f32 * 0.5;
        let cy = (rows - 1) as f32 * 0.5;
        let dx = c as f32 - cx - tr.shift.0 + ex;
        let dy = r as f32 - cy - tr.shift.1 + ey;
        let (sn, cs) = tr.angle.sin_cos();
        let x1 = cs * dx + sn * dy;
        let y1 = cs * dy - sn * dx;
        let y2 = y1 / tr.shear.cos();
        let x2 = x1 + y2 * tr.shear.sin();
        let sx = cx + x2 / tr.scale;
        let sy = cy + y2 / tr.scale;
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (xi, yi) = (x0 as i64, y0 as i64);
        let top = pixel(yi, xi) * (1.0 - fx) + pixel(yi, xi + 1) * fx;
        let bottom = pixel(yi + 1, xi) * (1.0 - fx) + pixel(yi + 1, xi + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// The transforms `--augment` takes.
const KEYS: [&str; 5] = ["shift", "rotate", "zoom", "shear", "elastic"];

impl Augment {
    /// Whether any range is non-zero.
    pub fn is_active(&self) -> bool {
        *self != Augment::default()
    }

    /// `row`'s transform at step `t`, as the gather kernel draws it (the same f32 operations).
    pub fn transform(&self, seed: u32, t: u32, row: u32) -> Transform {
        let signed = |k: u32| 2.0 * uniform(seed, t, row, k) - 1.0;
        let radians = std::f32::consts::PI / 180.0;
        Transform {
            angle: signed(0) * (self.rotate * radians),
            scale: 1.0 + signed(1) * self.zoom,
            shear: signed(2) * (self.shear * radians),
            shift: (signed(3) * self.shift, signed(4) * self.shift),
            elastic: (self.elastic > 0.0).then(|| {
                let draw = |k: usize| elastic_draw(seed, t, row, k as u32) * self.elastic;
                std::array::from_fn(|n| (draw(2 * n), draw(2 * n + 1)))
            }),
        }
    }

    /// `shift=2,rotate=10,zoom=0.1,shear=5,elastic=2`: any subset. The error says what is
    /// wrong with the text; the caller names the flag or file it came from.
    pub fn parse(text: &str) -> Result<Augment, String> {
        let mut a = Augment::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!(
                    "'{part}' is not key=value; expected e.g. shift=2,rotate=10,zoom=0.1,shear=5"
                )
            })?;
            let v: f32 = value
                .trim()
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{key}: '{value}' is not a number >= 0"))?;
            let (slot, max) = match key.trim() {
                "shift" => (&mut a.shift, 28.0),
                "rotate" => (&mut a.rotate, 180.0),
                "zoom" => (&mut a.zoom, 0.9),
                "shear" => (&mut a.shear, 60.0),
                "elastic" => (&mut a.elastic, 8.0),
                other => {
                    return Err(format!(
                    "unknown transform '{other}'{}; expected shift, rotate, zoom, shear or elastic",
                    super::did_you_mean(other, &KEYS)
                ))
                }
            };
            if v > max {
                return Err(format!("{key}={v} is out of range; at most {max}"));
            }
            *slot = v;
        }
        Ok(a)
    }

    /// `shift=2 px, rotate=10°, zoom=0.1, shear=0°` (and `, elastic=2 px` when set).
    pub fn describe(&self) -> String {
        let mut s = format!(
            "shift={} px, rotate={}°, zoom={}, shear={}°",
            self.shift, self.rotate, self.zoom, self.shear
        );
        if self.elastic > 0.0 {
            s += &format!(", elastic={} px", self.elastic);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_subset_and_refuses_what_it_cannot_use() {
        let a = Augment::parse("shift=2, rotate=10,zoom=0.1").unwrap();
        assert_eq!((a.shift, a.rotate, a.zoom, a.shear), (2.0, 10.0, 0.1, 0.0));
        for (bad, says) in [
            ("shift", "not key=value"),
            ("rotat=3", "did you mean 'rotate'"),
            ("zoom=-1", "not a number >= 0"),
            ("zoom=2", "at most 0.9"),
            ("elastic=9", "at most 8"),
        ] {
            let err = Augment::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    /// The field passes through each node's offset at the node, and halfway between two
    /// nodes is their mean (exact: halves of sums of small multiples of 2^-24).
    #[test]
    fn the_elastic_field_interpolates_its_nodes() {
        let mut nodes = [(0.0f32, 0.0f32); ELASTIC_NODES * ELASTIC_NODES];
        nodes[0] = (1.0, -0.5);
        nodes[1] = (0.5, 0.25);
        nodes[5] = (2.0, 2.0);
        // A 7x7 image: nodes at pixels 0, 2, 4, 6 of each axis.
        assert_eq!(elastic_offset(&nodes, (0, 0), (7, 7)), (1.0, -0.5));
        assert_eq!(elastic_offset(&nodes, (0, 2), (7, 7)), (0.5, 0.25));
        assert_eq!(elastic_offset(&nodes, (2, 2), (7, 7)), (2.0, 2.0));
        assert_eq!(elastic_offset(&nodes, (0, 1), (7, 7)), (0.75, -0.125));
        assert_eq!(elastic_offset(&nodes, (6, 6), (7, 7)), (0.0, 0.0));
    }

    #[test]
    fn draws_are_uniform_in_range_and_differ_by_row_step_and_seed() {
        let a = Augment::parse("shift=2,rotate=10,zoom=0.1,shear=5").unwrap();
        let t = a.transform(1, 3, 4);
        assert!(t.angle.abs() <= 10f32.to_radians() && (t.scale - 1.0).abs() <= 0.1);
        assert!(t.shift.0.abs() <= 2.0 && t.shift.1.abs() <= 2.0);
        assert_ne!(t, a.transform(1, 3, 5));
        assert_ne!(t, a.transform(1, 4, 4));
        assert_ne!(t, a.transform(2, 3, 4));
        assert_eq!(t.elastic, None);
        let e = Augment::parse("elastic=2").unwrap().transform(1, 3, 4);
        let nodes = e.elastic.expect("elastic=2 draws a grid");
        assert!(nodes.iter().all(|(x, y)| x.abs() <= 2.0 && y.abs() <= 2.0));
        assert!(nodes.windows(2).all(|w| w[0] != w[1]));
        let mean: f32 = (0..1000).map(|r| uniform(7, 0, r, 0)).sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }
}
