//! One decode step on several threads with one wake-up.
//!
//! Decoding a token multiplies by 4 dense layers per block and the LM head:
//! 49 short steps for GPT-2 small, each memory-bound and a fraction of a
//! millisecond. Waking pool threads for every step (a rayon region) costs
//! 20-90 us each on a small VM, which ate a third of the second thread's
//! gain. A [`DecodeTeam`] instead wakes its helpers once per token: the lead
//! (the calling thread) runs the pass and publishes each dense layer as a
//! *step*; every member, the lead included, claims the step's blocks of 8
//! packs one at a time from an atomic counter, and the lead gathers them
//! when all are done. Between steps the helpers spin briefly, then yield.
//!
//! The lead never waits for a helper to arrive: a helper that starts late
//! (the pool busy) finds nothing to claim, and one that never starts leaves
//! the lead to do every block itself. The lead only waits for blocks a
//! helper has claimed and is computing. A block's results do not depend on
//! which member computes it, so the bits are those of the one-thread pass.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

use super::linear::{Activation, Linear, BLOCK_PACKS, PACK};
use super::model::Weights;
use crate::error::{Error, Result};

/// No step published yet (the low 32 bits of `task` count claimed blocks,
/// the high 32 bits hold the step + 1).
const IDLE: u64 = 0;
/// The lead is done with this token: helpers return.
const FINISHED: u64 = u64::MAX;
/// Outputs per block (with one row).
const BLOCK_WIDTH: usize = PACK * BLOCK_PACKS;
/// Busy-wait rounds before a waiting member starts yielding its CPU.
const SPINS_BEFORE_YIELD: u32 = 1 << 12;

/// The shared state of a team decode (one per KV cache, made at its first
/// multi-thread decode and kept).
pub(crate) struct DecodeTeam {
    /// The published step and the next block to claim.
    task: AtomicU64,
    /// Blocks of the current step finished.
    done: AtomicUsize,
    /// Set by a helper that panicked, so the lead stops waiting for it.
    poisoned: AtomicBool,
    /// The current step's input row.
    input: RwLock<Vec<f32>>,
    /// Block b's results (one row: outputs `b * 128 ..`).
    blocks: Vec<Mutex<Vec<f32>>>,
}

/// The tag of step `step` in `task`'s high half (0 is reserved for IDLE).
const fn tag(step: usize) -> u64 {
    ((step as u64) + 1) << 32
}

/// The most blocks of any dense layer of `weights`, and the widest input.
fn extent(weights: &Weights) -> (usize, usize) {
    let layers = (0..=4 * weights.blocks.len()).map(|step| step_layer(weights, step).0);
    let most_blocks = layers.clone().map(Linear::blocks).max().unwrap_or(0);
    let widest_input = layers.map(|layer| layer.inputs).max().unwrap_or(0);
    (most_blocks, widest_input)
}

/// The dense layer of step `step`: block `step / 4`'s qkv, attention
/// projection, MLP up (with GELU) and down projections, then the LM head.
pub(crate) fn step_layer(weights: &Weights, step: usize) -> (&Linear, Activation) {
    match weights.blocks.get(step / 4) {
        Some(block) => match step % 4 {
            0 => (&block.qkv, Activation::Identity),
            1 => (&block.attn_proj, Activation::Identity),
            2 => (&block.fc, Activation::GeluTanh),
            _ => (&block.mlp_proj, Activation::Identity),
        },
        None => (&weights.head, Activation::Identity),
    }
}

impl DecodeTeam {
    pub(crate) fn new(weights: &Weights) -> DecodeTeam {
        let (most_blocks, widest_input) = extent(weights);
        DecodeTeam {
            task: AtomicU64::new(IDLE),
            done: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
            input: RwLock::new(Vec::with_capacity(widest_input)),
            blocks: (0..most_blocks)
                .map(|_| Mutex::new(Vec::with_capacity(BLOCK_WIDTH)))
                .collect(),
        }
    }

    /// Whether the buffers are large enough for `weights` (a KV cache may
    /// serve several models of the same attention shape, with other
    /// vocabulary or MLP sizes).
    pub(crate) fn fits(&self, weights: &Weights) -> bool {
        let (most_blocks, widest_input) = extent(weights);
        self.blocks.len() >= most_blocks && self.input.read().capacity() >= widest_input
    }

    /// Ready for a new token: nothing published.
    pub(crate) fn start(&self) {
        self.task.store(IDLE, Ordering::Release);
        self.poisoned.store(false, Ordering::Release);
    }

    /// A guard that tells the helpers the lead is done when dropped, on
    /// return or on unwinding (they would wait forever otherwise).
    pub(crate) fn finish_on_drop(&self) -> FinishOnDrop<'_> {
        FinishOnDrop(self)
    }

    /// The lead's side of step `step`: publish `x` (one row), claim blocks
    /// until none is left, wait for those the helpers claimed, gather the
    /// results into `y`.
    pub(crate) fn run_step(
        &self,
        step: usize,
        layer: &Linear,
        activation: Activation,
        x: &[f32],
        y: &mut [f32],
    ) -> Result<()> {
        self.publish(step, x);
        self.complete(step, layer, activation, y)
    }

    /// Make `x` the input of step `step` and open its blocks for claims.
    fn publish(&self, step: usize, x: &[f32]) {
        {
            let mut input = self.input.write();
            input.clear();
            input.extend_from_slice(x);
        }
        self.done.store(0, Ordering::Release);
        self.task.store(tag(step), Ordering::Release);
    }

    /// The lead's work on a published step: claim what is left, wait for
    /// the rest, gather.
    fn complete(
        &self,
        step: usize,
        layer: &Linear,
        activation: Activation,
        y: &mut [f32],
    ) -> Result<()> {
        let n = layer.blocks();
        while let Some(block) = self.claim(step, n) {
            self.compute(layer, activation, block);
        }
        let mut idle = 0;
        while self.done.load(Ordering::Acquire) < n {
            if self.poisoned.load(Ordering::Acquire) {
                // The scope re-raises the helper's panic once the lead
                // returns; the C layer turns it into HELIOS_ERR_INTERNAL.
                return Err(Error::Internal("a decode helper thread panicked".into()));
            }
            back_off(&mut idle);
        }
        for (b, chunk) in y.chunks_mut(BLOCK_WIDTH).enumerate() {
            chunk.copy_from_slice(&self.blocks[b].lock()[..chunk.len()]);
        }
        Ok(())
    }

    /// A helper: claim and compute blocks of whatever step is published
    /// until the lead finishes.
    pub(crate) fn help(&self, weights: &Weights) {
        let _poison = PoisonOnPanic(&self.poisoned);
        let mut idle = 0;
        loop {
            let task = self.task.load(Ordering::Acquire);
            if task == FINISHED {
                break;
            }
            if task != IDLE {
                let step = (task >> 32) as usize - 1;
                let (layer, activation) = step_layer(weights, step);
                if let Some(block) = self.claim(step, layer.blocks()) {
                    self.compute(layer, activation, block);
                    idle = 0;
                    continue;
                }
            }
            back_off(&mut idle);
        }
    }

    /// The next unclaimed block of `step` (of `n`), if `step` is still the
    /// published one.
    fn claim(&self, step: usize, n: usize) -> Option<usize> {
        let mut task = self.task.load(Ordering::Acquire);
        loop {
            if task == FINISHED || task & !0xffff_ffff != tag(step) {
                return None;
            }
            let next = (task & 0xffff_ffff) as usize;
            if next >= n {
                return None;
            }
            match self.task.compare_exchange_weak(
                task,
                task + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(next),
                Err(now) => task = now,
            }
        }
    }

    fn compute(&self, layer: &Linear, activation: Activation, block: usize) {
        {
            let input = self.input.read();
            let mut out = self.blocks[block].lock();
            out.resize(layer.block_len(block, 1), 0.0);
            layer.forward_block(&input, 1, block, &mut out, activation);
        }
        self.done.fetch_add(1, Ordering::AcqRel);
    }
}

/// Spin a while, then give the CPU away between checks.
fn back_off(idle: &mut u32) {
    if *idle < SPINS_BEFORE_YIELD {
        *idle += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Marks the team poisoned when a helper unwinds, so the lead does not wait
/// for a block that will never be finished.
struct PoisonOnPanic<'a>(&'a AtomicBool);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

/// See [`DecodeTeam::finish_on_drop`].
pub(crate) struct FinishOnDrop<'a>(&'a DecodeTeam);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.task.store(FINISHED, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::{GptConfig, Model};

    /// Every step of a pass, run through the team with `helpers` helper
    /// threads, against each layer's own one-thread forward.
    fn check_steps(helpers: usize) {
        let model = Model::random(GptConfig::new(700, 8, 64, 2, 4), 1).unwrap();
        let w = model.weights();
        let team = DecodeTeam::new(w);
        team.start();
        std::thread::scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|| team.help(w));
            }
            let _finish = team.finish_on_drop();
            for step in 0..=4 * w.blocks.len() {
                let (layer, activation) = step_layer(w, step);
                let x: Vec<f32> = (0..layer.inputs)
                    .map(|i| ((i * 31 + step) % 17) as f32 / 8.0 - 1.0)
                    .collect();
                let mut expected = vec![0.0; layer.outputs];
                layer
                    .forward(&x, 1, &mut expected, activation, 1, &mut Vec::new())
                    .unwrap();
                let mut y = vec![f32::NAN; layer.outputs];
                team.run_step(step, layer, activation, &x, &mut y).unwrap();
                assert_eq!(y, expected, "step {step}, {helpers} helpers");
            }
        });
    }

    #[test]
    fn the_lead_alone_computes_every_block() {
        check_steps(0);
    }

    #[test]
    fn helpers_give_the_bits_of_one_thread() {
        check_steps(1);
        check_steps(3);
    }

    #[test]
    fn a_helper_that_starts_after_the_lead_returns_at_once() {
        let model = Model::random(GptConfig::new(50, 8, 16, 1, 2), 1).unwrap();
        let team = DecodeTeam::new(model.weights());
        team.start();
        drop(team.finish_on_drop());
        team.help(model.weights()); // returns: the test would hang otherwise
        assert!(team.claim(0, 1).is_none());
    }

    #[test]
    fn a_helper_that_panics_with_a_claimed_block_stops_the_lead_waiting() {
        let model = Model::random(GptConfig::new(300, 8, 16, 1, 2), 1).unwrap();
        let w = model.weights();
        let team = DecodeTeam::new(w);
        team.start();
        let step = 4; // the LM head: 300 outputs, 3 blocks
        let (layer, activation) = step_layer(w, step);
        assert_eq!(layer.blocks(), 3);
        team.publish(step, &vec![0.5; layer.inputs]);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _poison = PoisonOnPanic(&team.poisoned);
            assert_eq!(team.claim(step, 3), Some(0));
            panic!("a helper's bug after claiming block 0");
        }));
        assert!(result.is_err());
        let mut y = vec![0.0; layer.outputs];
        let error = team.complete(step, layer, activation, &mut y).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Internal);
        assert!(error.to_string().contains("panicked"), "{error}");
    }
}
