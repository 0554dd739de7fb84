//! The bounded selection of the k best hits of one query.
//!
//! Hits are ordered by key (smaller is better; the inner-product metric
//! negates its scores) and then by id, a total order, so the k best of a set
//! do not depend on the order in which its members arrive: that is what lets
//! a search split the stored vectors into any ranges, on any number of
//! threads, and still return the same bits.

use std::cmp::Ordering;

/// One candidate: its key (smaller is better) and its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub(crate) key: f32,
    pub(crate) id: u64,
}

impl Hit {
    fn order(&self, other: &Hit) -> Ordering {
        self.key.total_cmp(&other.key).then(self.id.cmp(&other.id))
    }
}

/// The k best hits seen so far, as a max-heap (the worst kept hit at the root).
pub(crate) struct TopK {
    k: usize,
    heap: Vec<Hit>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: Vec::with_capacity(k),
        }
    }

    /// Forget every hit (keeping the allocation).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }

    /// A key above this cannot enter (keys equal to it may, by id).
    #[inline(always)]
    pub(crate) fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::INFINITY
        } else {
            self.heap[0].key
        }
    }

    /// Offer a hit: kept when fewer than k are held or it beats the worst.
    #[inline]
    pub(crate) fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.k {
            self.heap.push(hit);
            let mut i = self.heap.len() - 1;
            while i > 0 {
                let parent = (i - 1) / 2;
                if self.heap[parent].order(&self.heap[i]) != Ordering::Less {
                    break;
                }
                self.heap.swap(parent, i);
                i = parent;
            }
        } else if self.k > 0 && hit.order(&self.heap[0]) == Ordering::Less {
            self.heap[0] = hit;
            self.sift_down();
        }
    }

    fn sift_down(&mut self) {
        let len = self.heap.len();
        let mut i = 0;
        loop {
            let (left, right) = (2 * i + 1, 2 * i + 2);
            let mut largest = i;
            if left < len && self.heap[left].order(&self.heap[largest]) == Ordering::Greater {
                largest = left;
            }
            if right < len && self.heap[right].order(&self.heap[largest]) == Ordering::Greater {
                largest = right;
            }
            if largest == i {
                return;
            }
            self.heap.swap(i, largest);
            i = largest;
        }
    }

    /// The hits held, best first, in a new vector of their exact size (the
    /// heap is left empty, keeping its allocation for the next use).
    pub(crate) fn drain_sorted(&mut self) -> Vec<Hit> {
        let mut hits = self.heap.split_off(0);
        hits.sort_unstable_by(Hit::order);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_smallest_by_key_then_id_whatever_the_arrival_order() {
        let hits: Vec<Hit> = [(3.0, 7), (1.0, 9), (1.0, 2), (2.0, 4), (5.0, 1), (1.0, 5)]
            .iter()
            .map(|&(key, id)| Hit { key, id })
            .collect();
        let expected = vec![(1.0, 2), (1.0, 5), (1.0, 9), (2.0, 4)];
        for rotation in 0..hits.len() {
            let mut top = TopK::new(4);
            for i in 0..hits.len() {
                top.push(hits[(i + rotation) % hits.len()]);
            }
            let got: Vec<(f32, u64)> = top.drain_sorted().iter().map(|h| (h.key, h.id)).collect();
            assert_eq!(got, expected, "rotation {rotation}");
        }
    }

    #[test]
    fn threshold_is_infinite_until_full() {
        let mut top = TopK::new(2);
        assert_eq!(top.threshold(), f32::INFINITY);
        top.push(Hit { key: 4.0, id: 0 });
        assert_eq!(top.threshold(), f32::INFINITY);
        top.push(Hit { key: 3.0, id: 1 });
        assert_eq!(top.threshold(), 4.0);
    }
}
