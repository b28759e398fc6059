//! The ring of sample slots a run's gather reads when the training set is not one resident
//! buffer: position `p` of the epoch's order lives in slot `p % slots`, and before each
//! submission of steps the slots are refilled with the positions from the batch the gather
//! reads next onwards. A set split over several GPU buffers is copied into it on the GPU
//! (`shaders/ring.wgsl`); a streamed set is copied into it here, on the host, byte for byte
//! as the kernel does, so the gather (and so the run) sees the same bytes either way.
//!
//! Layout, shared with the kernel: `[slots, sample_bytes]` u8 images, then from byte
//! [`Ring::label_start`] `[slots]` u8 labels.

/// A ring's shape for one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    pub slots: usize,
    pub sample_bytes: usize,
    pub batch: usize,
    /// Steps per submission, whose samples one fill holds.
    pub steps: usize,
    /// Where the labels start, in bytes: after the images, at a multiple of `align` (a
    /// storage binding's offset alignment).
    pub label_start: usize,
}

impl Ring {
    /// The ring for submissions of up to `steps` steps of `batch` samples: the batch the gather
    /// reads next and `steps` more (a fused step's end gathers the next step's batch), plus up
    /// to 3 positions before them (a fill starts at a multiple of 4, so that every 4-byte word
    /// holds one fill's bytes), rounded up to a multiple of 4.
    pub fn new(sample_bytes: usize, batch: usize, steps: usize, align: usize) -> Ring {
        let slots = ((steps + 1) * batch + 3).next_multiple_of(4);
        Ring {
            slots,
            sample_bytes,
            batch,
            steps,
            label_start: (slots * sample_bytes).next_multiple_of(align.max(4)),
        }
    }

    /// Bytes of the whole ring, images and labels.
    pub fn bytes(&self) -> usize {
        self.label_start + self.slots
    }

    /// The first position the fill made at batch `step` holds.
    pub fn first(&self, step: usize) -> usize {
        (step * self.batch) & !3
    }

    /// The epoch position slot `slot` holds after the fill at `first`.
    pub fn position_of(&self, slot: usize, first: usize) -> usize {
        first + (slot + self.slots - first % self.slots) % self.slots
    }

    /// The fill made when the cursor is at batch `step`, written through `put(byte offset,
    /// bytes)` in increasing offsets: each slot's sample (zeros past the end of `order`), then
    /// each slot's label. `images` is `[samples, sample_bytes]`, `labels` `[samples]`.
    pub fn fill(
        &self,
        (images, labels): (&[u8], &[u8]),
        order: &[u32],
        step: usize,
        put: &mut dyn FnMut(usize, &[u8]),
    ) {
        let first = self.first(step);
        let zeros = vec![0u8; self.sample_bytes];
        let mut ring_labels = vec![0u8; self.slots];
        for (slot, label) in ring_labels.iter_mut().enumerate() {
            let offset = slot * self.sample_bytes;
            match order.get(self.position_of(slot, first)) {
                Some(&s) => {
                    let s = s as usize;
                    put(
                        offset,
                        &images[s * self.sample_bytes..][..self.sample_bytes],
                    );
                    *label = labels[s];
                }
                None => put(offset, &zeros),
            }
        }
        let images_end = self.slots * self.sample_bytes;
        put(images_end, &vec![0u8; self.label_start - images_end]);
        put(self.label_start, &ring_labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position a submission's gathers read (batches `step` to `step + steps`) is in the
    /// fill made at `step`, in its own slot.
    #[test]
    fn a_fill_holds_every_position_its_submission_reads() {
        for (batch, steps) in [(1, 1), (3, 2), (5, 16), (128, 16), (7, 1)] {
            let ring = Ring::new(10, batch, steps, 256);
            assert_eq!(ring.slots % 4, 0);
            for step in 0..20 {
                let first = ring.first(step);
                let held: Vec<usize> = (0..ring.slots)
                    .map(|s| ring.position_of(s, first))
                    .collect();
                for pos in step * batch..(step + steps + 1) * batch {
                    assert_eq!(held[pos % ring.slots], pos, "batch {batch} step {step}");
                }
            }
        }
    }
}
