// helios from C#: a 3-point stencil with the deterministic parallel runner,
// error handling, and cancellation.
//
// Build and run (from the repository root, after `cargo build --release`):
//   make -C bindings/csharp demo
// or by hand with Mono:
//   mcs -unsafe -target:library -out:Helios.dll bindings/csharp/src/*.cs
//   mcs -r:Helios.dll -out:Stencil.exe examples/csharp/Stencil.cs
//   LD_LIBRARY_PATH=target/release mono Stencil.exe

using System;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using Helios;

internal static class StencilExample
{
    // The kernel: smooth y[i] = (x[i-1] + 2 x[i] + x[i+1]) / 4, edges clamped.
    // `block` holds one block's core plus `halo` neighbours on each side (fewer
    // at the ends of the array); the core starts at block[coreOffset] and has
    // coreOut.Length elements. helios calls it from several threads at once, so
    // it only reads `block` and writes `coreOut`.
    private static void Smooth(ReadOnlySpan<float> block, int coreOffset, Span<float> coreOut)
    {
        for (int k = 0; k < coreOut.Length; k++)
        {
            int i = coreOffset + k;
            float left = block[i > 0 ? i - 1 : 0];
            float right = block[i + 1 < block.Length ? i + 1 : block.Length - 1];
            coreOut[k] = 0.25f * left + 0.5f * block[i] + 0.25f * right;
        }
    }

    private static int Main()
    {
        // Library.Version and friends load libhelios.so (from LD_LIBRARY_PATH or
        // next to this program); the first real call also checks its ABI.
        Console.WriteLine($"helios {Library.Version}, {Library.NumThreads} threads by default");

        // 1. A stencil over a million samples of a square wave.
        const int n = 1000000;
        float[] signal = Enumerable.Range(0, n).Select(i => (i / 1000) % 2 == 1 ? 1.0f : -1.0f).ToArray();

        // halo: 1 is the kernel's radius, so the result equals one pass over the
        // whole array, whatever the thread count and block size.
        float[] smoothed = ParallelMap.Map(signal, Smooth, halo: 1);
        Console.WriteLine($"smoothed around the first edge: {smoothed[998]:F2} {smoothed[999]:F2} "
            + $"{smoothed[1000]:F2} {smoothed[1001]:F2}");

        // The same bits with one thread (the calling thread) as with many
        // (compared as raw bytes, so even -0.0 against 0.0 would count).
        float[] single = ParallelMap.Map(signal, Smooth, halo: 1, threads: 1);
        bool same = MemoryMarshal.AsBytes(single.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(smoothed.AsSpan()));
        Console.WriteLine($"1 thread and {Library.NumThreads} threads agree bit for bit: {(same ? "yes" : "NO")}");

        // 2. Errors come back as a HeliosException with the C status and the
        // message helios left for this thread. An output that is too small:
        try
        {
            ParallelMap.Map(signal, new float[10], Smooth, halo: 1);
        }
        catch (HeliosException e)
        {
            Console.WriteLine($"too small a buffer: {e.StatusName} ({e.Message})");
        }

        // An exception thrown by the kernel stops the run and reaches the
        // caller as it is (here an InvalidOperationException).
        try
        {
            ParallelMap.Map(signal, (block, coreOffset, coreOut) => throw new InvalidOperationException("bad block"));
        }
        catch (InvalidOperationException e)
        {
            Console.WriteLine($"the kernel's own exception: {e.GetType().Name} ({e.Message})");
        }

        // 3. Cancellation: a .NET CancellationTokenSource drives a helios
        // CancelToken, which stops the run before its next block. Here a slow
        // kernel is cancelled after 50 ms.
        using (var source = new CancellationTokenSource())
        using (CancelToken token = CancelToken.FromCancellationToken(source.Token))
        {
            source.CancelAfter(TimeSpan.FromMilliseconds(50));
            try
            {
                ParallelMap.Map(signal, (block, coreOffset, coreOut) =>
                {
                    Thread.Sleep(10); // pretend each block is expensive
                    Smooth(block, coreOffset, coreOut);
                }, halo: 1, blockElems: 1000, cancel: token);
                Console.WriteLine("the slow run finished before the timeout (unexpected)");
                return 1;
            }
            catch (HeliosException e) when (e.Status == Status.Cancelled)
            {
                Console.WriteLine($"cancelled after 50 ms: {e.StatusName} ({e.Message})");
            }
        }
        return same ? 0 : 1;
    }
}
