//! The GPU feature map against the CPU path, on a CUDA device. Without the
//! `cuda` feature this file is empty; without a device every test prints a
//! SKIPPED line and checks only the documented error (CI has no GPU).
#![cfg(feature = "cuda")]

use helios::embed::{rkhs_embed, Matrix};
use helios::gpu::embed::{rkhs_embed_f32, GpuMatrix, GpuOutput};
use helios::{Device, ErrorKind, Threads};

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

/// Seeded data in [-1, 1).
fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

#[test]
fn host_staged_embedding_matches_the_cpu_and_repeats_bit_for_bit() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m) = (3000, 24, 200);
    let x = data(n * d, 1);
    let l = data(m * d, 2);
    let (xm, lm) = (
        Matrix::new(&x, n, d).unwrap(),
        Matrix::new(&l, m, d).unwrap(),
    );
    let cpu = rkhs_embed(xm, lm, 0.5, 1e-6, Threads::Exactly(1)).unwrap();
    let scale = cpu.iter().fold(0.0f32, |a, v| a.max(v.abs()));
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
        let worst = out
            .iter()
            .zip(&cpu)
            .map(|(g, c)| (g - c).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-5 * scale,
            "max |gpu - cpu| = {worst}, scale {scale}"
        );
        runs.push(out);
    }
    assert_eq!(runs[0], runs[1], "the same bits on every run");
}

#[test]
fn device_pointers_give_the_host_staged_bits_and_bad_pointers_are_refused() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = device() else { return };
    let (n, d, m) = (500, 8, 64);
    let x = data(n * d, 3);
    let l = data(m * d, 4);
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
    use cudarc::driver::DevicePtr;
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
    use cudarc::driver::DevicePtr;
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
