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
/// Rows per register tile.
const TILE_ROWS: usize = 4;
/// Packs per parallel block: fixed, so the split never depends on threads.
const BLOCK_PACKS: usize = 8;

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

    /// `y = x W + b` for `rows` rows of x (`rows x inputs`), into y
    /// (`rows x outputs`), on `threads` workers. `scratch` is reused between
    /// calls (pack-major partial results).
    pub(crate) fn forward(
        &self,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
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
        run_blocks(
            threads,
            scratch,
            block_len,
            None,
            || (),
            |(), block, out| {
                let first_pack = block * BLOCK_PACKS;
                for (i, pack_out) in out.chunks_mut(rows * PACK).enumerate() {
                    self.pack_forward(x, rows, first_pack + i, pack_out);
                }
                Ok(())
            },
        )?;
        for r in 0..rows {
            let y_row = &mut y[r * self.outputs..(r + 1) * self.outputs];
            for (p, chunk) in y_row.chunks_mut(PACK).enumerate() {
                let src = &scratch[(p * rows + r) * PACK..(p * rows + r) * PACK + chunk.len()];
                chunk.copy_from_slice(src);
            }
            if !self.bias.is_empty() {
                for (value, b) in y_row.iter_mut().zip(&self.bias) {
                    *value += b;
                }
            }
        }
        Ok(())
    }

    /// All rows of x times pack `p`, into `out` (`rows x 16`).
    fn pack_forward(&self, x: &[f32], rows: usize, p: usize, out: &mut [f32]) {
        struct Run<'a>(&'a Linear, &'a [f32], usize, usize, &'a mut [f32]);
        impl pulp::WithSimd for Run<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) {
                let Run(linear, x, rows, p, out) = self;
                match std::mem::size_of::<S::f32s>() / 4 {
                    16 => linear.pack_simd::<S, 1>(simd, x, rows, p, out),
                    8 => linear.pack_simd::<S, 2>(simd, x, rows, p, out),
                    4 => linear.pack_simd::<S, 4>(simd, x, rows, p, out),
                    _ => linear.pack_simd::<S, 16>(simd, x, rows, p, out),
                }
            }
        }
        pulp::Arch::new().dispatch(Run(self, x, rows, p, out));
    }

    #[inline(always)]
    fn pack_simd<S: Simd, const R: usize>(
        &self,
        simd: S,
        x: &[f32],
        rows: usize,
        p: usize,
        out: &mut [f32],
    ) {
        let mut r = 0;
        while r < rows {
            match rows - r {
                1 => self.tile::<S, 1, R>(simd, x, r, p, out),
                2 => self.tile::<S, 2, R>(simd, x, r, p, out),
                3 => self.tile::<S, 3, R>(simd, x, r, p, out),
                _ => self.tile::<S, TILE_ROWS, R>(simd, x, r, p, out),
            }
            r += (rows - r).min(TILE_ROWS);
        }
    }

    /// Rows `r .. r + NR` times pack `p`, with `R` registers per pack.
    #[inline(always)]
    fn tile<S: Simd, const NR: usize, const R: usize>(
        &self,
        simd: S,
        x: &[f32],
        r: usize,
        p: usize,
        out: &mut [f32],
    ) {
        let n = self.inputs;
        let zero = simd.splat_f32s(0.0);
        let mut acc = [[zero; R]; NR];
        let pack = &self.packed[p * n * PACK..(p + 1) * n * PACK];
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_sequential_fma_chain_for_any_row_count_and_threads() {
        let (inputs, outputs) = (37, 300); // 19 packs: 3 blocks of 8
        let w: Vec<f32> = (0..inputs * outputs)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let bias: Vec<f32> = (0..outputs).map(|j| j as f32 * 0.01).collect();
        let layer = Linear::from_in_out(&w, inputs, outputs, bias.clone());
        let rows = 7;
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
                .forward(&x, rows, &mut y, threads, &mut scratch)
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
                        threads,
                        &mut scratch,
                    )
                    .unwrap();
                assert_eq!(one, expected[r * outputs..(r + 1) * outputs]);
            }
        }
        assert_eq!(layer.to_in_out(), w);
    }
}
