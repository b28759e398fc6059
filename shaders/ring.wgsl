// ring: the samples of the next steps, copied from a training set held in up to four buffers
// (a set larger than one storage binding) into one ring of sample slots, which the gather then
// reads as if it were the whole set (its order holds each position's slot). One launch at the
// start of each submission of steps; the host fills the same ring itself when the set is
// streamed (src/data/ring.rs), byte for byte as here.
//
// shard_k: the training images [n_samples, sample_bytes] u8 packed 4 per u32, words
//          [k * shard_words, (k + 1) * shard_words) of the whole in shard k (unused shards
//          are bound to shard 0 and never read).
// labels:  [n_samples] u8, packed the same way.
// order:   [n_order] u32, the epoch's sample indices.
// ring:    [slots, sample_bytes] u8 images, then from word `label_offset` [slots] u8 labels,
//          packed 4 per word. Position p of the epoch lives in slot p % slots.
//
// The ring is filled with the positions [first, first + slots), first = cursor.step * batch
// rounded down to a multiple of 4 (slots is one too, so every word holds bytes of one fill):
// the batch the gather reads next and the steps after it, as many as the launch's submission
// runs (slots covers them, see RingArgs). Positions past the order's end get zero bytes,
// which the gather never reads. One invocation per word of the ring.

struct Params {
    sample_bytes: u32,
    batch: u32,
    slots: u32,
    n_order: u32,
    shard_words: u32,
    label_offset: u32, // in words
    image_words: u32, // slots * sample_bytes / 4
    grid_width: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> shard_0: array<u32>;
@group(0) @binding(2) var<storage, read> shard_1: array<u32>;
@group(0) @binding(3) var<storage, read> shard_2: array<u32>;
@group(0) @binding(4) var<storage, read> shard_3: array<u32>;
@group(0) @binding(5) var<storage, read> labels: array<u32>;
@group(0) @binding(6) var<storage, read> order: array<u32>;
@group(0) @binding(7) var<storage, read> cursor: Cursor;
@group(0) @binding(8) var<storage, read_write> ring: array<u32>;

// Word `w` of the whole training set, from its shard.
fn set_word(w: u32) -> u32 {
    let k = w / params.shard_words;
    let i = w - k * params.shard_words;
    switch k {
        case 0u: { return shard_0[i]; }
        case 1u: { return shard_1[i]; }
        case 2u: { return shard_2[i]; }
        default: { return shard_3[i]; }
    }
}

// Byte `o` of sample `s`, without forming s * sample_bytes (which passes 2^32 in sets over
// 4 GiB): whole words of the sample's start, then the remainder.
fn sample_byte(s: u32, o: u32) -> u32 {
    let r = s * (params.sample_bytes & 3u) + o;
    let w = s * (params.sample_bytes >> 2u) + (r >> 2u);
    return (set_word(w) >> ((r & 3u) * 8u)) & 0xffu;
}

// The epoch position whose slot is `slot` in this fill, or n_order (none) past the order.
fn position_of(slot: u32, first: u32) -> u32 {
    let pos = first + (slot + params.slots - first % params.slots) % params.slots;
    return min(pos, params.n_order);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let id = flat_id(gid, params.grid_width);
    let first = (cursor.step * params.batch) & ~3u;
    var word = 0u;
    if (id < params.image_words && (params.sample_bytes & 3u) == 0u) {
        // Samples of whole words (28x28, 32x32x3): a word is one sample's, copied whole.
        let slot = id * 4u / params.sample_bytes;
        let pos = position_of(slot, first);
        if (pos < params.n_order) {
            let o = id - slot * (params.sample_bytes >> 2u);
            word = set_word(order[pos] * (params.sample_bytes >> 2u) + o);
        }
        ring[id] = word;
    } else if (id < params.image_words) {
        for (var k = 0u; k < 4u; k++) {
            let b = id * 4u + k;
            let slot = b / params.sample_bytes;
            let pos = position_of(slot, first);
            if (pos < params.n_order) {
                word |= sample_byte(order[pos], b - slot * params.sample_bytes) << (k * 8u);
            }
        }
        ring[id] = word;
    } else if (id < params.image_words + params.slots / 4u) {
        let j = id - params.image_words;
        for (var k = 0u; k < 4u; k++) {
            let pos = position_of(j * 4u + k, first);
            if (pos < params.n_order) {
                let s = order[pos];
                word |= ((labels[s >> 2u] >> ((s & 3u) * 8u)) & 0xffu) << (k * 8u);
            }
        }
        ring[params.label_offset + j] = word;
    }
}
