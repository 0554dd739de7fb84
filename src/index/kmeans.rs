//! Seeded k-means for the PQ codebooks (one run per sub-space).
//!
//! Lloyd's algorithm as faiss runs it for a product quantizer: centroids
//! start as k distinct training points drawn with the seed, each iteration
//! assigns every point to its nearest centroid (the lowest index among equal
//! distances) and moves each centroid to the mean of its points (summed in
//! f64, in point order), and an empty cluster takes half of the largest one
//! (its centroid nudged apart by 1/1024 in alternating directions). Every
//! step is sequential and in a fixed order, so a run gives the same bits on
//! every thread count; the parallelism is across sub-spaces.

use pulp::Simd;

use crate::rng::uniform_sample;

/// At most this many training points per centroid are used (faiss' default
/// `max_points_per_centroid`); larger training sets are subsampled with the seed.
pub(crate) const MAX_POINTS_PER_CENTROID: usize = 256;

/// Centroids per group of the packed layout.
pub(crate) const GROUP: usize = 16;

/// The nearest of `k` centroids to `x` (`dsub` values), given the centroids
/// packed by [`pack`]: the lowest index among equal distances. Distances are
/// compared as `||c||² - 2 x·c` (`||x||²` is the same for every centroid),
/// one fused multiply-add per coordinate, in coordinate order.
#[inline(always)]
pub(crate) fn nearest(x: &[f32], packed: &[f32]) -> usize {
    let dsub = x.len();
    let mut best = [f32::INFINITY; GROUP];
    let mut best_group = [0u32; GROUP];
    for (g, group) in packed.chunks_exact((dsub + 1) * GROUP).enumerate() {
        let (norms, coords) = group.split_at(GROUP);
        let mut acc: [f32; GROUP] = norms.try_into().expect("one group");
        for (&xt, coords) in x.iter().zip(coords.chunks_exact(GROUP)) {
            let minus_two_x = -2.0 * xt;
            for (a, &c) in acc.iter_mut().zip(coords) {
                *a = minus_two_x.mul_add(c, *a);
            }
        }
        for lane in 0..GROUP {
            let better = acc[lane] < best[lane];
            best[lane] = if better { acc[lane] } else { best[lane] };
            best_group[lane] = if better { g as u32 } else { best_group[lane] };
        }
    }
    let mut winner = (f32::INFINITY, usize::MAX);
    for lane in 0..GROUP {
        let index = best_group[lane] as usize * GROUP + lane;
        if best[lane] < winner.0 || (best[lane] == winner.0 && index < winner.1) {
            winner = (best[lane], index);
        }
    }
    if winner.1 == usize::MAX {
        0
    } else {
        winner.1
    }
}

/// `k x dsub` centroids (row-major) packed in groups of 16: each group is
/// the 16 squared norms, then the coordinates dimension-major
/// (`group[16 + t * 16 + lane]` is coordinate t of centroid `16 g + lane`).
/// Lanes past `k` have norm +inf, so they are never nearest.
pub(crate) fn pack(centroids: &[f32], k: usize, dsub: usize) -> Vec<f32> {
    let groups = k.div_ceil(GROUP);
    let stride = (dsub + 1) * GROUP;
    let mut out = vec![0.0; groups * stride];
    for g in 0..groups {
        out[g * stride..g * stride + GROUP].fill(f32::INFINITY);
    }
    for c in 0..k {
        let centroid = &centroids[c * dsub..(c + 1) * dsub];
        let start = (c / GROUP) * stride;
        out[start + c % GROUP] = centroid.iter().fold(0.0f32, |acc, &v| v.mul_add(v, acc));
        for (t, &value) in centroid.iter().enumerate() {
            out[start + (t + 1) * GROUP + c % GROUP] = value;
        }
    }
    out
}

/// Train `k` centroids on `n` points of `dsub` values (`points`, row-major).
/// The caller checked `n >= k`.
pub(crate) fn train(
    points: &[f32],
    dsub: usize,
    k: usize,
    iterations: usize,
    seed: u64,
) -> Vec<f32> {
    struct Train<'a> {
        points: &'a [f32],
        dsub: usize,
        k: usize,
        iterations: usize,
        seed: u64,
    }
    impl pulp::WithSimd for Train<'_> {
        type Output = Vec<f32>;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) -> Vec<f32> {
            train_in(self.points, self.dsub, self.k, self.iterations, self.seed)
        }
    }
    pulp::Arch::new().dispatch(Train {
        points,
        dsub,
        k,
        iterations,
        seed,
    })
}

#[inline(always)]
fn train_in(points: &[f32], dsub: usize, k: usize, iterations: usize, seed: u64) -> Vec<f32> {
    let n = points.len() / dsub;
    let mut centroids = Vec::with_capacity(k * dsub);
    for i in uniform_sample(n, k, seed) {
        centroids.extend_from_slice(&points[i * dsub..(i + 1) * dsub]);
    }
    let mut sums = vec![0.0f64; k * dsub];
    let mut counts = vec![0usize; k];
    for _ in 0..iterations {
        let packed = pack(&centroids, k, dsub);
        sums.fill(0.0);
        counts.fill(0);
        for x in points.chunks_exact(dsub) {
            let c = nearest(x, &packed);
            counts[c] += 1;
            for (s, &v) in sums[c * dsub..(c + 1) * dsub].iter_mut().zip(x) {
                *s += f64::from(v);
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                let inverse = 1.0 / counts[c] as f64;
                for t in 0..dsub {
                    centroids[c * dsub + t] = (sums[c * dsub + t] * inverse) as f32;
                }
            }
        }
        split_empty_clusters(&mut centroids, &mut counts, dsub);
    }
    centroids
}

/// Give each empty cluster half of the largest one (faiss' rule, made
/// deterministic: the largest cluster, the lowest index among equals).
fn split_empty_clusters(centroids: &mut [f32], counts: &mut [usize], dsub: usize) {
    const EPS: f32 = 1.0 / 1024.0;
    for empty in 0..counts.len() {
        if counts[empty] != 0 {
            continue;
        }
        let largest = (0..counts.len())
            .max_by(|&a, &b| counts[a].cmp(&counts[b]).then(b.cmp(&a)))
            .expect("k > 0");
        if counts[largest] < 2 {
            return;
        }
        for t in 0..dsub {
            let value = centroids[largest * dsub + t];
            let (up, down) = (value * (1.0 + EPS), value * (1.0 - EPS));
            if t % 2 == 0 {
                centroids[empty * dsub + t] = up;
                centroids[largest * dsub + t] = down;
            } else {
                centroids[empty * dsub + t] = down;
                centroids[largest * dsub + t] = up;
            }
        }
        counts[empty] = counts[largest] / 2;
        counts[largest] -= counts[empty];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_takes_the_lowest_index_among_equal_distances() {
        // Centroids (1, 0), (-1, 0), (0, 3); x = (0, 0) is 1 from the first two.
        let centroids = [1.0, 0.0, -1.0, 0.0, 0.0, 3.0];
        let t = pack(&centroids, 3, 2);
        assert_eq!(nearest(&[0.0, 0.0], &t), 0);
        assert_eq!(nearest(&[-0.9, 0.1], &t), 1);
        assert_eq!(nearest(&[0.1, 2.9], &t), 2);
        // 17 centroids: the winner in the second group of 16.
        let many: Vec<f32> = (0..17).map(|c| c as f32).collect();
        assert_eq!(nearest(&[16.2], &pack(&many, 17, 1)), 16);
        assert_eq!(nearest(&[3.4], &pack(&many, 17, 1)), 3);
    }

    #[test]
    fn two_separated_groups_give_their_means() {
        // 1-D points around 0 and around 10; two centroids land on the means.
        let points = [0.0, 1.0, -1.0, 10.0, 11.0, 9.0];
        let mut centroids = train(&points, 1, 2, 10, 3);
        centroids.sort_by(f32::total_cmp);
        assert_eq!(centroids, vec![0.0, 10.0]);
    }

    #[test]
    fn an_empty_cluster_takes_half_of_the_largest() {
        let mut centroids = [2.0, 4.0, 0.0, 0.0];
        let mut counts = [10, 0];
        split_empty_clusters(&mut centroids, &mut counts, 2);
        assert_eq!(counts, [5, 5]);
        assert_eq!(centroids[2], 2.0 * (1.0 + 1.0 / 1024.0));
        assert_eq!(centroids[0], 2.0 * (1.0 - 1.0 / 1024.0));
        assert_eq!(centroids[3], 4.0 * (1.0 - 1.0 / 1024.0));
    }
}
