//! The GPU feature map against the CPU path, on a CUDA device. Without the
//! `cuda` feature this file is empty; without a device every test prints a
//! SKIPPED line and checks only the documented error (CI has no GPU).
#![cfg(feature = "cuda")]

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use helios::embed::{rkhs_embed, LandmarkSelection, Matrix, NystromEngine, NystromOptions};
use helios::gpu::embed::{rkhs_embed_f32, GpuMatrix, GpuOutput};
use helios::{Device, ErrorKind, Threads};

mod common;

/// One GPU test at a time: the out-of-memory test compares the free memory
/// before and after, which the others' allocations would disturb.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The first device, or None after printing why the test is skipped.
fn device() -> Option<Device> {
    match Device::open(0) {
        Ok(device) => Some(device),
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::Device, "{error}");
            println!("SKIPPED: no CUDA device here ({error})");
            None
        }
    }
}

#[test]
fn host_staged_embedding_matches_the_cpu_and_repeats_bit_for_bit() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m) = (3000, 24, 200);
    let x = common::noise_f32(n * d, 1);
    let l = common::noise_f32(m * d, 2);
    let (xm, lm) = (
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&l, m, d).unwrap(),
    );
    let cpu = rkhs_embed(xm, lm, 0.5, 1e-6, Threads::Exactly(1)).unwrap();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut out = vec![f32::NAN; n * m];
        rkhs_embed_f32(
            &device,
            GpuMatrix::Host(xm),
            GpuMatrix::Host(lm),
            0.5,
            1e-6,
            GpuOutput::Host(&mut out),
            0,
        )
        .unwrap();
        let error = relative_error(&out, &cpu);
        assert!(error <= 1e-5, "max |gpu - cpu| / max |cpu| = {error}");
        runs.push(out);
    }
    assert_eq!(runs[0], runs[1], "the same bits on every run");
}

#[test]
fn device_pointers_give_the_host_staged_bits_and_bad_pointers_are_refused() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m) = (500, 8, 64);
    let x = common::noise_f32(n * d, 3);
    let l = common::noise_f32(m * d, 4);
    let (xm, lm) = (
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&l, m, d).unwrap(),
    );
    let mut staged = vec![0.0f32; n * m];
    rkhs_embed_f32(
        &device,
        GpuMatrix::Host(xm),
        GpuMatrix::Host(lm),
        0.3,
        0.0,
        GpuOutput::Host(&mut staged),
        0,
    )
    .unwrap();

    let stream = device.cuda_context().default_stream();
    let x_dev = stream.clone_htod(&x).unwrap();
    let l_dev = stream.clone_htod(&l).unwrap();
    let out_dev = stream.alloc_zeros::<f32>(n * m).unwrap();
    let (xp, _a) = x_dev.device_ptr(&stream);
    let (lp, _b) = l_dev.device_ptr(&stream);
    let (op, _c) = out_dev.device_ptr(&stream);
    let on_device = |ptr: u64, rows: usize| GpuMatrix::Device {
        ptr,
        rows,
        cols: d,
        ld: d,
    };
    rkhs_embed_f32(
        &device,
        on_device(xp, n),
        on_device(lp, m),
        0.3,
        0.0,
        GpuOutput::Device {
            ptr: op,
            len: n * m,
        },
        0,
    )
    .unwrap();
    let back = stream.clone_dtoh(&out_dev).unwrap();
    assert_eq!(back, staged);

    // A host address passed as a device pointer, NULL, a short output.
    let host_address = x.as_ptr() as u64;
    let error = rkhs_embed_f32(
        &device,
        on_device(host_address, n),
        on_device(lp, m),
        0.3,
        0.0,
        GpuOutput::Device {
            ptr: op,
            len: n * m,
        },
        0,
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert!(
        error.to_string().contains("not CUDA device memory"),
        "{error}"
    );
    let error = rkhs_embed_f32(
        &device,
        on_device(0, n),
        on_device(lp, m),
        0.3,
        0.0,
        GpuOutput::Device {
            ptr: op,
            len: n * m,
        },
        0,
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NullArgument, "{error}");
    let error = rkhs_embed_f32(
        &device,
        on_device(xp, n),
        on_device(lp, m),
        0.3,
        0.0,
        GpuOutput::Device {
            ptr: op,
            len: n * m - 1,
        },
        0,
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BufferTooSmall, "{error}");
}

#[test]
fn more_landmarks_than_the_device_holds_is_out_of_memory() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    // m x m floats of normaliser alone exceed any device's memory; refused
    // before the CPU would start on a normaliser of that size.
    let m = 1usize << 20;
    let l = [0.0f32; 1];
    let x = [0.0f32; 1];
    let error = rkhs_embed_f32(
        &device,
        GpuMatrix::Host(Matrix::new(&x, 1, 1).unwrap()),
        GpuMatrix::Device {
            ptr: l.as_ptr() as u64,
            rows: m,
            cols: 1,
            ld: 1,
        },
        0.5,
        0.0,
        GpuOutput::Host(&mut vec![0.0; 1 << 20]),
        0,
    )
    .unwrap_err();
    // The landmark pointer is a host address: refused as such, before memory.
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    let stream = device.cuda_context().default_stream();
    let l_dev = stream.alloc_zeros::<f32>(m).unwrap();
    let (lp, _guard) = l_dev.device_ptr(&stream);
    let mut out = vec![0.0f32; m];
    let (free_before, _) = device.cuda_context().mem_get_info().unwrap();
    let error = rkhs_embed_f32(
        &device,
        GpuMatrix::Host(Matrix::new(&x, 1, 1).unwrap()),
        GpuMatrix::Device {
            ptr: lp,
            rows: m,
            cols: 1,
            ld: 1,
        },
        0.5,
        0.0,
        GpuOutput::Host(&mut out),
        0,
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutOfMemory, "{error}");
    // Nothing was allocated for the refused call.
    let (free_after, _) = device.cuda_context().mem_get_info().unwrap();
    assert_eq!(free_after, free_before);
}

/// The largest |a - b| over the largest |b|: the relative error measure.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f32, |s, v| s.max(v.abs()));
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    worst / scale
}

fn engine_options(m: usize, selection: LandmarkSelection) -> NystromOptions {
    NystromOptions {
        gamma: 0.4,
        // A ridge that keeps f32 distance errors from being amplified by a
        // badly conditioned K(L, L) (1/sqrt(ridge) bounds the normaliser).
        ridge: 1e-3,
        landmark_count: m,
        selection,
        seed: 11,
        threads: Threads::Exactly(2),
    }
}

/// A device pointer's address (the guard only records cudarc's events).
fn address<T>(slice: &CudaSlice<T>, stream: &Arc<CudaStream>) -> u64 {
    let (ptr, _record) = slice.device_ptr(stream);
    ptr
}

#[test]
fn an_engine_on_a_device_matches_the_cpu_engine_for_both_selections() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m, n_new) = (2500, 12, 96, 700);
    let x = common::noise_f32(n * d, 21);
    let x_new = common::noise_f32(n_new * d, 22);
    let (xm, new_m) = (
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&x_new, n_new, d).unwrap(),
    );
    for selection in [
        LandmarkSelection::Uniform,
        LandmarkSelection::KMeansPlusPlus,
    ] {
        let mut cpu = NystromEngine::<f32>::new(engine_options(m, selection)).unwrap();
        let cpu_phi = cpu.build(xm).unwrap();
        let mut cpu_all = cpu_phi.clone();
        cpu.update(new_m, &mut cpu_all).unwrap();

        let mut gpu = NystromEngine::<f32>::new(engine_options(m, selection)).unwrap();
        gpu.set_device(Some(device.clone())).unwrap();
        let phi = gpu.build(xm).unwrap();
        // The same landmarks (chosen on the CPU), the map within 1e-5.
        assert_eq!(
            gpu.feature_map().unwrap().landmarks(),
            cpu.feature_map().unwrap().landmarks(),
            "{selection:?}"
        );
        let error = relative_error(&phi, &cpu_phi);
        assert!(error <= 1e-5, "{selection:?}: build off by {error}");
        let mut all = phi.clone();
        gpu.update(new_m, &mut all).unwrap();
        assert_eq!(&all[..n * m], &phi[..], "update leaves the old rows");
        let error = relative_error(&all, &cpu_all);
        assert!(error <= 1e-5, "{selection:?}: update off by {error}");
        // Transform repeats build's bits, and itself, on one device.
        assert_eq!(gpu.transform(xm).unwrap(), phi);
        assert_eq!(gpu.transform(xm).unwrap(), phi);

        // A CPU engine moved to the device afterwards uploads its map and
        // gives the same bits as one built there.
        cpu.set_device(Some(device.clone())).unwrap();
        assert_eq!(cpu.transform(xm).unwrap(), phi);
        cpu.set_device(None).unwrap();
        assert_eq!(cpu.transform(xm).unwrap(), cpu_phi, "back on the CPU");
    }
    // f64 engines stay on the CPU.
    let mut wide =
        NystromEngine::<f64>::new(engine_options(8, LandmarkSelection::Uniform)).unwrap();
    let error = wide.set_device(Some(device.clone())).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported, "{error}");
    assert!(wide.device().is_none());
}

#[test]
fn an_engine_takes_device_arrays_and_updates_only_the_new_rows() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m, n_new) = (1200, 10, 64, 300);
    let x = common::noise_f32(n * d, 31);
    let x_new = common::noise_f32(n_new * d, 32);
    for selection in [
        LandmarkSelection::Uniform,
        LandmarkSelection::KMeansPlusPlus,
    ] {
        // Host-staged reference on the same device.
        let mut staged = NystromEngine::<f32>::new(engine_options(m, selection)).unwrap();
        staged.set_device(Some(device.clone())).unwrap();
        let phi = staged.build(Matrix::new(&x, n, d).unwrap()).unwrap();
        let phi_new = staged
            .transform(Matrix::new(&x_new, n_new, d).unwrap())
            .unwrap();

        let stream = device.cuda_context().default_stream();
        let x_dev = stream.clone_htod(&x).unwrap();
        let new_dev = stream.clone_htod(&x_new).unwrap();
        // Room for both row sets; the tail starts as a sentinel.
        let buffer = stream.clone_htod(&vec![-7.0f32; (n + n_new) * m]).unwrap();
        let rows = |ptr, rows| GpuMatrix::Device {
            ptr,
            rows,
            cols: d,
            ld: d,
        };
        let (xp, np, bp) = (
            address(&x_dev, &stream),
            address(&new_dev, &stream),
            address(&buffer, &stream),
        );
        let mut engine = NystromEngine::<f32>::new(engine_options(m, selection)).unwrap();
        engine.set_device(Some(device.clone())).unwrap();
        engine
            .build_on_device(
                rows(xp, n),
                GpuOutput::Device {
                    ptr: bp,
                    len: n * m,
                },
                0,
            )
            .unwrap();
        let back = stream.clone_dtoh(&buffer).unwrap();
        assert_eq!(&back[..n * m], &phi[..], "{selection:?}: device build");
        assert!(back[n * m..].iter().all(|&v| v == -7.0), "past the output");

        // Too small an output for a build: refused before any row is copied,
        // and the engine keeps its map (checked by the transforms below).
        let error = engine
            .build_on_device(
                rows(xp, n),
                GpuOutput::Device {
                    ptr: bp,
                    len: n * m - 1,
                },
                0,
            )
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BufferTooSmall, "{error}");
        // A NULL buffer is named as such, also past used rows.
        let error = engine
            .update_on_device(
                rows(np, n_new),
                GpuOutput::Device {
                    ptr: 0,
                    len: (n + n_new) * m,
                },
                n,
                0,
            )
            .unwrap_err();
        assert!(
            matches!(error, helios::Error::NullArgument("buffer")),
            "{error}"
        );
        // Too small a buffer for the new rows: refused, nothing written.
        let short = GpuOutput::Device {
            ptr: bp,
            len: (n + n_new) * m - 1,
        };
        let error = engine
            .update_on_device(rows(np, n_new), short, n, 0)
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BufferTooSmall, "{error}");
        let full = GpuOutput::Device {
            ptr: bp,
            len: (n + n_new) * m,
        };
        let total = engine
            .update_on_device(rows(np, n_new), full, n, 0)
            .unwrap();
        assert_eq!(total, n + n_new);
        let back = stream.clone_dtoh(&buffer).unwrap();
        assert_eq!(&back[..n * m], &phi[..], "the old rows are untouched");
        assert_eq!(&back[n * m..], &phi_new[..], "the new rows");

        // Transform into a device output.
        let out = stream.alloc_zeros::<f32>(n_new * m).unwrap();
        engine
            .transform_on_device(
                rows(np, n_new),
                GpuOutput::Device {
                    ptr: address(&out, &stream),
                    len: n_new * m,
                },
                0,
            )
            .unwrap();
        assert_eq!(stream.clone_dtoh(&out).unwrap(), phi_new);

        // A host pointer passed as a device one, and NULL.
        let error = engine
            .transform_on_device(
                rows(x.as_ptr() as u64, n),
                GpuOutput::Device {
                    ptr: bp,
                    len: n * m,
                },
                0,
            )
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
        let error = engine
            .build_on_device(
                rows(0, n),
                GpuOutput::Device {
                    ptr: bp,
                    len: n * m,
                },
                0,
            )
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NullArgument, "{error}");
        // The failed build kept the engine: the same bits as before.
        assert_eq!(
            engine
                .transform(Matrix::new(&x_new, n_new, d).unwrap())
                .unwrap(),
            phi_new
        );
    }
}

/// Queue about `copies` large device-to-device copies on `stream` that end
/// by writing `values` into `target`: work that keeps the stream busy for
/// tens of milliseconds, so that a call not ordered after it reads stale
/// data.
fn write_late(
    stream: &Arc<CudaStream>,
    values: &[f32],
    target: &mut CudaSlice<f32>,
    copies: usize,
) {
    let big = 1usize << 28; // 1 GiB of f32
    let mut a = stream.alloc_zeros::<f32>(big).unwrap();
    let mut b = stream.alloc_zeros::<f32>(big).unwrap();
    let staged = stream.clone_htod(values).unwrap();
    for i in 0..copies {
        if i % 2 == 0 {
            stream.memcpy_dtod(&a, &mut b).unwrap();
        } else {
            stream.memcpy_dtod(&b, &mut a).unwrap();
        }
    }
    stream.memcpy_dtod(&staged, target).unwrap();
}

#[test]
fn work_on_the_callers_stream_is_ordered_around_the_call() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m) = (4000, 16, 128);
    let x = common::noise_f32(n * d, 41);
    let l = common::noise_f32(m * d, 42);
    let (xm, lm) = (
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&l, m, d).unwrap(),
    );
    let cpu = rkhs_embed(xm, lm, 0.3, 1e-3, Threads::Exactly(2)).unwrap();
    // A non-blocking stream of the caller's own (as PyTorch's are).
    let stream = device.cuda_context().new_stream().unwrap();
    let raw = stream.cu_stream() as usize;
    let on_device = |ptr, rows| GpuMatrix::Device {
        ptr,
        rows,
        cols: d,
        ld: d,
    };
    let out = stream.alloc_zeros::<f32>(n * m).unwrap();
    let mut after = stream.alloc_zeros::<f32>(n * m).unwrap();
    let output = || GpuOutput::Device {
        ptr: address(&out, &stream),
        len: n * m,
    };

    // X written by work queued before the call, behind ~40 ms of copies,
    // with host landmarks: nothing in the call waits on the host, so only
    // the stream's order makes it read the finished X.
    let mut x_dev = stream.alloc_zeros::<f32>(n * d).unwrap();
    stream.synchronize().unwrap();
    write_late(&stream, &x, &mut x_dev, 20);
    rkhs_embed_f32(
        &device,
        on_device(address(&x_dev, &stream), n),
        GpuMatrix::Host(lm),
        0.3,
        1e-3,
        output(),
        raw,
    )
    .unwrap();
    // Work queued after the call on the same stream sees the output.
    stream.memcpy_dtod(&out, &mut after).unwrap();
    let error = relative_error(&stream.clone_dtoh(&after).unwrap(), &cpu);
    assert!(error <= 1e-5, "the stream saw the output off by {error}");

    // Device landmarks written late: copied to the host for the normaliser
    // only once the stream has written them.
    let mut l_dev = stream.alloc_zeros::<f32>(m * d).unwrap();
    stream.memset_zeros(&mut after).unwrap();
    stream.synchronize().unwrap();
    write_late(&stream, &l, &mut l_dev, 20);
    rkhs_embed_f32(
        &device,
        on_device(address(&x_dev, &stream), n),
        on_device(address(&l_dev, &stream), m),
        0.3,
        1e-3,
        output(),
        raw,
    )
    .unwrap();
    stream.memcpy_dtod(&out, &mut after).unwrap();
    let error = relative_error(&stream.clone_dtoh(&after).unwrap(), &cpu);
    assert!(error <= 1e-5, "device landmarks: off by {error}");

    // The engine: a transform of late-written rows on the stream.
    let mut engine =
        NystromEngine::<f32>::new(engine_options(m, LandmarkSelection::Uniform)).unwrap();
    engine.set_device(Some(device.clone())).unwrap();
    let reference = engine.build(xm).unwrap();
    let mut x2 = stream.alloc_zeros::<f32>(n * d).unwrap();
    stream.memset_zeros(&mut after).unwrap();
    stream.synchronize().unwrap();
    write_late(&stream, &x, &mut x2, 20);
    engine
        .transform_on_device(on_device(address(&x2, &stream), n), output(), raw)
        .unwrap();
    stream.memcpy_dtod(&out, &mut after).unwrap();
    assert_eq!(
        stream.clone_dtoh(&after).unwrap(),
        reference,
        "the engine's transform on the stream gives its host-staged bits"
    );
}

#[test]
fn two_threads_with_streams_of_their_own_embed_at_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m) = (6000, 20, 160);
    let cases: Vec<(Vec<f32>, Vec<f32>, f64)> = (0..2)
        .map(|t| {
            (
                common::noise_f32(n * d, 50 + t),
                common::noise_f32(m * d, 60 + t),
                0.2 + 0.1 * t as f64,
            )
        })
        .collect();
    let expected: Vec<Vec<f32>> = cases
        .iter()
        .map(|(x, l, gamma)| {
            rkhs_embed(
                Matrix::new(x, n, d).unwrap(),
                Matrix::new(l, m, d).unwrap(),
                *gamma,
                1e-3,
                Threads::Exactly(2),
            )
            .unwrap()
        })
        .collect();
    let results: Vec<Vec<Vec<f32>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(x, l, gamma)| {
                let device = device.clone();
                scope.spawn(move || {
                    let stream = device.cuda_context().new_stream().unwrap();
                    let x_dev = stream.clone_htod(x).unwrap();
                    let l_dev = stream.clone_htod(l).unwrap();
                    let out = stream.alloc_zeros::<f32>(n * m).unwrap();
                    let on_device = |ptr, rows| GpuMatrix::Device {
                        ptr,
                        rows,
                        cols: d,
                        ld: d,
                    };
                    (0..5)
                        .map(|_| {
                            rkhs_embed_f32(
                                &device,
                                on_device(address(&x_dev, &stream), n),
                                on_device(address(&l_dev, &stream), m),
                                *gamma,
                                1e-3,
                                GpuOutput::Device {
                                    ptr: address(&out, &stream),
                                    len: n * m,
                                },
                                stream.cu_stream() as usize,
                            )
                            .unwrap();
                            stream.clone_dtoh(&out).unwrap()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Within tolerance only: cuBLAS promises the same bits for one active
    // stream, and here another thread's stream runs beside.
    for (runs, reference) in results.iter().zip(&expected) {
        for run in runs {
            let error = relative_error(run, reference);
            assert!(error <= 1e-5, "a thread's result off by {error}");
        }
    }
}
