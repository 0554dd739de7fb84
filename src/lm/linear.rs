//! The dense layers of the language model: `y = x W + b` with W packed for
//! a fixed reduction order.
//!
//! W (`inputs x outputs`) is stored in packs of [`PACK`] = 16 output
//! features, input-major inside a pack (`pack[k * 16 + lane]` is weight
//! (k, 16 p + lane)), the layout of the vector index's flat kernel. Every
//! output element is one fused multiply-add chain over k = 0, 1, ..., in - 1
//! started from 0, then plus the bias, whatever the number of rows
//! multiplied at once, the tile, the vector width or the thread count. So a
//! row's result does not depend on the rows beside it: the logits of token t
//! from a KV-cache decode are bit-identical to row t of a forward over the
//! whole prefix. Decoding one row streams each weight once, in parallel
//! over fixed blocks of packs.

use pulp::Simd;

use crate::error::Result;
use crate::exec::run_blocks;

/// Output features per pack.
pub(crate) const PACK: usize = 16;
/// Packs per parallel block: fixed, so the split never depends on threads.
pub(crate) const BLOCK_PACKS: usize = 8;
/// Multiply-adds a worker must have before another one is woken: waking a
/// pool thread costs tens of microseconds, more than a quarter-million
/// multiply-adds take. The workers never change the bits, only the time.
const WORK_PER_WORKER: usize = 1 << 18;

/// A dense layer, packed.
#[derive(Clone)]
pub(crate) struct Linear {
    pub inputs: usize,
    pub outputs: usize,
    /// `ceil(outputs / 16)` packs of `inputs * 16` weights; padding lanes 0.
    packed: Vec<f32>,
    /// `outputs` biases, or empty.
    bias: Vec<f32>,
}

impl Linear {
    /// From W in `(inputs, outputs)` row-major order (GPT-2's Conv1D) and
    /// an optional bias.
    pub(crate) fn from_in_out(w: &[f32], inputs: usize, outputs: usize, bias: Vec<f32>) -> Linear {
        debug_assert_eq!(w.len(), inputs * outputs);
        Linear::build(inputs, outputs, bias, |k, j| w[k * outputs + j])
    }

    /// From W in `(outputs, inputs)` row-major order (an embedding table
    /// used as the LM head).
    pub(crate) fn from_out_in(w: &[f32], inputs: usize, outputs: usize) -> Linear {
        debug_assert_eq!(w.len(), inputs * outputs);
        Linear::build(inputs, outputs, Vec::new(), |k, j| w[j * inputs + k])
    }

    fn build(
        inputs: usize,
        outputs: usize,
        bias: Vec<f32>,
        weight: impl Fn(usize, usize) -> f32,
    ) -> Linear {
        let packs = outputs.div_ceil(PACK);
        let mut packed = vec![0.0f32; packs * inputs * PACK];
        for p in 0..packs {
            let lanes = (outputs - p * PACK).min(PACK);
            let pack = &mut packed[p * inputs * PACK..(p + 1) * inputs * PACK];
            for k in 0..inputs {
                for lane in 0..lanes {
                    pack[k * PACK + lane] = weight(k, p * PACK + lane);
                }
            }
        }
        Linear {
            inputs,
            outputs,
            packed,
            bias,
        }
    }

    /// Weight (k, j).
    pub(crate) fn weight(&self, k: usize, j: usize) -> f32 {
        self.packed[(j / PACK) * self.inputs * PACK + k * PACK + j % PACK]
    }

    /// W back in `(inputs, outputs)` order.
    pub(crate) fn to_in_out(&self) -> Vec<f32> {
        let mut w = vec![0.0; self.inputs * self.outputs];
        for k in 0..self.inputs {
            for j in 0..self.outputs {
                w[k * self.outputs + j] = self.weight(k, j);
            }
        }
        w
    }

    /// Row j of W^T (the weights of output j), `inputs` values.
    pub(crate) fn output_row(&self, j: usize, out: &mut [f32]) {
        for (k, value) in out.iter_mut().enumerate() {
            *value = self.weight(k, j);
        }
    }

    pub(crate) fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `y = act(x W + b)` for `rows` rows of x (`rows x inputs`), into y
    /// (`rows x outputs`), on `threads` workers. `scratch` is reused between
    /// calls (pack-major partial results). The bias and the activation are
    /// applied by the worker that computed the pack, so they run in parallel
    /// too.
    pub(crate) fn forward(
        &self,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        activation: Activation,
        threads: usize,
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        debug_assert_eq!(x.len(), rows * self.inputs);
        debug_assert_eq!(y.len(), rows * self.outputs);
        let packs = self.outputs.div_ceil(PACK);
        // Pack-major: block b holds packs [b * BLOCK_PACKS, ...) for every row,
        // so each worker writes one contiguous range.
        let block_len = BLOCK_PACKS * rows * PACK;
        scratch.clear();
        scratch.resize(packs * rows * PACK, 0.0);
        let workers = threads.min((rows * self.inputs * self.outputs / WORK_PER_WORKER).max(1));
        run_blocks(
            workers,
            scratch,
            block_len,
            None,
            || (),
            |(), block, out| {
                self.forward_block(x, rows, block, out, activation);
                Ok(())
            },
        )?;
        for r in 0..rows {
            let y_row = &mut y[r * self.outputs..(r + 1) * self.outputs];
            for (p, chunk) in y_row.chunks_mut(PACK).enumerate() {
                let src = &scratch[(p * rows + r) * PACK..(p * rows + r) * PACK + chunk.len()];
                chunk.copy_from_slice(src);
            }
        }
        Ok(())
    }

    /// The number of parallel blocks (of 8 packs) of outputs.
    pub(crate) fn blocks(&self) -> usize {
        self.outputs.div_ceil(PACK * BLOCK_PACKS)
    }

    /// The length of block `block`'s results for `rows` rows: its packs x
    /// rows x 16 (the last block may hold fewer packs).
    pub(crate) fn block_len(&self, block: usize, rows: usize) -> usize {
        let packs = self.outputs.div_ceil(PACK);
        (packs - block * BLOCK_PACKS).min(BLOCK_PACKS) * rows * PACK
    }

    /// Block `block` of `act(x W + b)`: its packs for every row, pack-major
    /// (`out[(i * rows + r) * 16 + lane]` is output `(block * 8 + i) * 16 +
    /// lane` of row r), `block_len(block, rows)` values. With one row that is
    /// simply outputs `block * 128 ..` in order, padding lanes last.
    pub(crate) fn forward_block(
        &self,
        x: &[f32],
        rows: usize,
        block: usize,
        out: &mut [f32],
        activation: Activation,
    ) {
        let first_pack = block * BLOCK_PACKS;
        let pack = |p: usize| &self.packed[p * self.inputs * PACK..(p + 1) * self.inputs * PACK];
        let n_packs = out.len() / (rows * PACK);
        // Two packs at a time, then the odd one out.
        let mut pairs = out.chunks_exact_mut(2 * rows * PACK);
        for (i, pair_out) in pairs.by_ref().enumerate() {
            let p = first_pack + 2 * i;
            let (a, b) = pair_out.split_at_mut(rows * PACK);
            pack_pair_rows([pack(p), pack(p + 1)], x, rows, [&mut *a, &mut *b]);
            self.epilogue(p, a, activation);
            self.epilogue(p + 1, b, activation);
        }
        let last = pairs.into_remainder();
        if !last.is_empty() {
            let p = first_pack + n_packs - 1;
            pack_rows(pack(p), x, rows, last);
            self.epilogue(p, last, activation);
        }
    }

    /// Bias and activation on the results of pack `p` (`rows x 16`).
    fn epilogue(&self, p: usize, out: &mut [f32], activation: Activation) {
        let lanes = (self.outputs - p * PACK).min(PACK);
        for row in out.chunks_exact_mut(PACK) {
            if !self.bias.is_empty() {
                for (value, b) in row.iter_mut().zip(&self.bias[p * PACK..p * PACK + lanes]) {
                    *value += b;
                }
            }
            if activation == Activation::GeluTanh {
                for value in &mut row[..lanes] {
                    *value = gelu(*value);
                }
            }
        }
    }
}

/// What follows the bias in [`Linear::forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Identity,
    /// GPT-2's GELU (tanh approximation, `gelu_new`).
    GeluTanh,
}

/// GELU, tanh approximation (GPT-2's `gelu_new`).
#[inline]
pub(crate) fn gelu(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    0.5 * x * (1.0 + tanh(C * (x + 0.044_715 * x * x * x)))
}

/// tanh as the odd [13/6] rational minimax fit Eigen, XLA and ONNX
/// Runtime use (within 4e-7 of the true value, about 6 units in the last
/// place near 1), clamped where
/// tanh rounds to +-1. Plain multiplies, adds, a division and min/max, so
/// loops over it vectorise; libm's `tanhf` does not, and took a fifth of a
/// prompt pass. NaN stays NaN.
#[inline]
// The coefficients as published, digit for digit, rounded to f32 by the
// compiler.
#[allow(clippy::excessive_precision)]
pub(crate) fn tanh(x: f32) -> f32 {
    const LIMIT: f32 = 7.905_311_107_635_498_05;
    let x = if x.is_nan() {
        x
    } else {
        x.clamp(-LIMIT, LIMIT)
    };
    let x2 = x * x;
    let mut p = -2.760_768_477_423_55e-16_f32;
    p = p * x2 + 2.000_187_904_824_77e-13;
    p = p * x2 + -8.604_671_522_137_35e-11;
    p = p * x2 + 5.122_297_090_371_14e-8;
    p = p * x2 + 1.485_722_357_179_79e-5;
    p = p * x2 + 6.372_619_288_754_36e-4;
    p = p * x2 + 4.893_524_558_917_86e-3;
    let mut q = 1.198_258_394_667_02e-6_f32;
    q = q * x2 + 1.185_347_056_866_54e-4;
    q = q * x2 + 2.268_434_632_439_00e-3;
    q = q * x2 + 4.893_525_185_543_85e-3;
    x * p / q
}

/// `rows` rows of x (each `pack.len() / 16` long, contiguous) times one pack
/// (`n x 16`, input-major), into `out` (`rows x 16`): each result is one
/// fused multiply-add chain over k = 0, 1, ..., n - 1 started from 0, so a
/// lane gives the bits of a sequential dot product whatever the rows beside
/// it. Dispatches to the widest SIMD the CPU has.
pub(crate) fn pack_rows(pack: &[f32], x: &[f32], rows: usize, out: &mut [f32]) {
    struct Run<'a>(&'a [f32], &'a [f32], usize, &'a mut [f32]);
    impl pulp::WithSimd for Run<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let Run(pack, x, rows, out) = self;
            pack_rows_simd(simd, pack, x, rows, out);
        }
    }
    pulp::Arch::new().dispatch(Run(pack, x, rows, out));
}

/// [`pack_rows`] on two packs at once, into `outs[0]` and `outs[1]`: with
/// 16-lane vectors each broadcast of x feeds two multiply-adds, which keeps
/// the FMA units rather than the loads busy. The same bits as two calls of
/// [`pack_rows`].
pub(crate) fn pack_pair_rows(packs: [&[f32]; 2], x: &[f32], rows: usize, outs: [&mut [f32]; 2]) {
    struct Run<'a>([&'a [f32]; 2], &'a [f32], usize, [&'a mut [f32]; 2]);
    impl pulp::WithSimd for Run<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let Run(packs, x, rows, [out_a, out_b]) = self;
            if std::mem::size_of::<S::f32s>() / 4 != PACK {
                pack_rows_simd(simd, packs[0], x, rows, out_a);
                pack_rows_simd(simd, packs[1], x, rows, out_b);
                return;
            }
            let mut r = 0;
            while r < rows {
                let n = (rows - r).min(PAIR_TILE_ROWS);
                match n {
                    1 => pair_tile::<S, 1>(simd, packs, x, r, [&mut *out_a, &mut *out_b]),
                    2 => pair_tile::<S, 2>(simd, packs, x, r, [&mut *out_a, &mut *out_b]),
                    3 => pair_tile::<S, 3>(simd, packs, x, r, [&mut *out_a, &mut *out_b]),
                    4 => pair_tile::<S, 4>(simd, packs, x, r, [&mut *out_a, &mut *out_b]),
                    5 => pair_tile::<S, 5>(simd, packs, x, r, [&mut *out_a, &mut *out_b]),
                    6 => pair_tile::<S, 6>(simd, packs, x, r, [&mut *out_a, &mut *out_b]),
                    7 => pair_tile::<S, 7>(simd, packs, x, r, [&mut *out_a, &mut *out_b]),
                    _ => pair_tile::<S, PAIR_TILE_ROWS>(
                        simd,
                        packs,
                        x,
                        r,
                        [&mut *out_a, &mut *out_b],
                    ),
                }
                r += n;
            }
        }
    }
    pulp::Arch::new().dispatch(Run(packs, x, rows, outs));
}

/// Rows per tile of [`pack_pair_rows`]: 8 rows x 2 packs = 16 accumulator
/// registers (of AVX-512's 32), enough to hide the FMA latency on both units.
const PAIR_TILE_ROWS: usize = 8;

/// Rows `r .. r + NR` times two packs, one 16-lane register each.
#[inline(always)]
fn pair_tile<S: Simd, const NR: usize>(
    simd: S,
    [pack_a, pack_b]: [&[f32]; 2],
    x: &[f32],
    r: usize,
    [out_a, out_b]: [&mut [f32]; 2],
) {
    let n = pack_a.len() / PACK;
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; 2]; NR];
    let xs: [&[f32]; NR] = std::array::from_fn(|i| &x[(r + i) * n..(r + i + 1) * n]);
    for (k, (wa, wb)) in pack_a
        .chunks_exact(PACK)
        .zip(pack_b.chunks_exact(PACK))
        .enumerate()
    {
        let wa = S::as_simd_f32s(wa).0[0];
        let wb = S::as_simd_f32s(wb).0[0];
        for (i, row) in xs.iter().enumerate() {
            let xk = simd.splat_f32s(row[k]);
            acc[i][0] = simd.mul_add_f32s(xk, wa, acc[i][0]);
            acc[i][1] = simd.mul_add_f32s(xk, wb, acc[i][1]);
        }
    }
    for (i, [a, b]) in acc.iter().enumerate() {
        let a: &[f32] = pulp::bytemuck::cast_slice(std::slice::from_ref(a));
        let b: &[f32] = pulp::bytemuck::cast_slice(std::slice::from_ref(b));
        out_a[(r + i) * PACK..(r + i + 1) * PACK].copy_from_slice(a);
        out_b[(r + i) * PACK..(r + i + 1) * PACK].copy_from_slice(b);
    }
}

/// [`pack_rows`] inside a SIMD dispatch already made.
#[inline(always)]
pub(crate) fn pack_rows_simd<S: Simd>(
    simd: S,
    pack: &[f32],
    x: &[f32],
    rows: usize,
    out: &mut [f32],
) {
    match std::mem::size_of::<S::f32s>() / 4 {
        16 => pack_tiles::<S, 1>(simd, pack, x, rows, out),
        8 => pack_tiles::<S, 2>(simd, pack, x, rows, out),
        4 => pack_tiles::<S, 4>(simd, pack, x, rows, out),
        _ => pack_tiles::<S, 16>(simd, pack, x, rows, out),
    }
}

#[inline(always)]
fn pack_tiles<S: Simd, const R: usize>(
    simd: S,
    pack: &[f32],
    x: &[f32],
    rows: usize,
    out: &mut [f32],
) {
    let mut r = 0;
    while r < rows {
        let n = (rows - r).min(4);
        match n {
            1 => tile::<S, 1, R>(simd, pack, x, r, out),
            2 => tile::<S, 2, R>(simd, pack, x, r, out),
            3 => tile::<S, 3, R>(simd, pack, x, r, out),
            _ => tile::<S, 4, R>(simd, pack, x, r, out),
        }
        r += n;
    }
}

/// Rows `r .. r + NR` times the pack, with `R` registers per pack.
#[inline(always)]
fn tile<S: Simd, const NR: usize, const R: usize>(
    simd: S,
    pack: &[f32],
    x: &[f32],
    r: usize,
    out: &mut [f32],
) {
    let n = pack.len() / PACK;
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; R]; NR];
    let xs: [&[f32]; NR] = std::array::from_fn(|i| &x[(r + i) * n..(r + i + 1) * n]);
    for (k, weights) in pack.chunks_exact(PACK).enumerate() {
        let (w, _) = S::as_simd_f32s(weights);
        for (i, row) in xs.iter().enumerate() {
            let xk = simd.splat_f32s(row[k]);
            for j in 0..R {
                acc[i][j] = simd.mul_add_f32s(xk, w[j], acc[i][j]);
            }
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        let lanes: &[f32] = pulp::bytemuck::cast_slice(acc_i.as_slice());
        out[(r + i) * PACK..(r + i + 1) * PACK].copy_from_slice(&lanes[..PACK]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_sequential_fma_chain_for_any_row_count_and_threads() {
        // 19 packs: 3 blocks of 8; 45 rows: enough work for 3 workers.
        let (inputs, outputs) = (64, 300);
        let w: Vec<f32> = (0..inputs * outputs)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let bias: Vec<f32> = (0..outputs).map(|j| j as f32 * 0.01).collect();
        let layer = Linear::from_in_out(&w, inputs, outputs, bias.clone());
        let rows = 45;
        assert!(rows * inputs * outputs >= 3 * WORK_PER_WORKER);
        let x: Vec<f32> = (0..rows * inputs)
            .map(|i| ((i * 104729) % 97) as f32 / 40.0 - 1.2)
            .collect();
        // The reference: one fma chain over k from 0, then the bias.
        let mut expected = vec![0.0f32; rows * outputs];
        for r in 0..rows {
            for j in 0..outputs {
                let chain = (0..inputs).fold(0.0f32, |acc, k| {
                    x[r * inputs + k].mul_add(w[k * outputs + j], acc)
                });
                expected[r * outputs + j] = chain + bias[j];
            }
        }
        let mut scratch = Vec::new();
        for threads in [1, 2, 3] {
            let mut y = vec![0.0; rows * outputs];
            layer
                .forward(
                    &x,
                    rows,
                    &mut y,
                    Activation::Identity,
                    threads,
                    &mut scratch,
                )
                .unwrap();
            assert_eq!(y, expected, "threads = {threads}");
            // Row by row: the same bits.
            for r in 0..rows {
                let mut one = vec![0.0; outputs];
                layer
                    .forward(
                        &x[r * inputs..(r + 1) * inputs],
                        1,
                        &mut one,
                        Activation::Identity,
                        threads,
                        &mut scratch,
                    )
                    .unwrap();
                assert_eq!(one, expected[r * outputs..(r + 1) * outputs]);
            }
        }
        // The activation follows the bias, value by value.
        let mut y = vec![0.0; rows * outputs];
        layer
            .forward(&x, rows, &mut y, Activation::GeluTanh, 2, &mut scratch)
            .unwrap();
        let activated: Vec<f32> = expected.iter().map(|&v| gelu(v)).collect();
        assert_eq!(y, activated);
        assert_eq!(layer.to_in_out(), w);
    }

    #[test]
    fn tanh_is_within_a_few_ulp_of_f64_and_keeps_nan() {
        let mut worst = 0.0f64;
        for i in -12_000..=12_000 {
            let x = i as f32 / 1000.0;
            let error = (tanh(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(error);
        }
        assert!(worst < 5e-7, "max |tanh - f64 tanh| = {worst}");
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(0.0), 0.0);
        assert!(tanh(f32::NAN).is_nan());
        assert!(gelu(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_matches_the_tanh_formula_in_f64() {
        for x in [-5.0f32, -1.5, -0.1, 0.0, 0.3, 1.0, 4.0] {
            let v = x as f64;
            let expected = 0.5
                * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh());
            assert!((gelu(x) as f64 - expected).abs() < 1e-6, "gelu({x})");
        }
    }
}
