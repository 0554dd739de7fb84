// Tests of the C# binding against independent references: hand-written loops
// over whole arrays, the C header and Cargo.toml as text, and the raw bits of
// every result. Run by `make -C bindings/csharp test` with the repository
// root as the first argument.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using System.Threading;

namespace Helios.Tests
{
    /// <summary>Thrown by test kernels; Index is the array index that failed.</summary>
    internal sealed class KernelFailure : Exception
    {
        public KernelFailure(int index)
            : base("kernel failed at index " + index)
        {
            Index = index;
        }

        public int Index { get; }
    }

    internal static partial class Program
    {
        private static string s_root;

        private static int Main(string[] args)
        {
            if (args.Length == 2 && args[0] == "--exit-probe")
            {
                return ExitProbe(args[1]);
            }
            s_root = args.Length > 0 ? args[0] : FindRoot();
            var harness = new Harness();

            harness.Run("version and ABI match Cargo.toml and the header", VersionAndAbi);
            harness.Run("an ABI mismatch is refused with a clear message", AbiMismatch);
            harness.Run("the Status enum mirrors the header", StatusEnumMirrorsHeader);
            harness.Run("status names", StatusNames);
            harness.Run("float stencil equals the whole-array loop bit for bit", FloatStencil);
            harness.Run("double stencil equals the whole-array loop bit for bit", DoubleStencil);
            harness.Run("results are bit-identical for every thread count and block size", Determinism);
            harness.Run("blocks hold their core and clamped halo", BlockLayout);
            harness.Run("Span overloads: stackalloc output, sliced input, longer output", SpanOverloads);
            harness.Run("kernels run on native worker threads", NativeWorkerThreads);
            harness.Run("garbage collection during a run", GarbageCollectionDuringRun);
            harness.Run("a kernel exception is rethrown with its type (lowest block)", KernelExceptionRethrown);
            harness.Run("helios errors come back as HeliosException with status and message", HeliosErrors);
            harness.Run(".NET-only mistakes get .NET argument exceptions", ArgumentErrors);
            harness.Run("concurrent failures keep their own thread's message", ConcurrentErrorMessages);
            harness.Run("NumThreads get and set", NumThreads);
            harness.Run("CancelToken raise, query and reset", CancelTokenBasics);
            harness.Run("a cancelled token stops the run before any block", CancelledTokenStopsRun);
            harness.Run("cancel from another thread mid-run", CancelFromAnotherThread);
            harness.Run("a .NET CancellationToken raises the helios token", CancellationTokenMapping);
            harness.Run("ObjectDisposedException after Dispose; Dispose twice is fine", DisposedToken);
            harness.Run("disposing a token while a run uses it is safe", DisposeDuringRun);
            harness.Run("4 threads calling ParallelMap at once match sequential runs", ConcurrentCallers);
            harness.Run("Rkhs: Phi Phiᵀ reproduces K when the landmarks are the points", EmbedReproducesKernel);
            harness.Run("Rkhs: Phi(X) Phi(L)ᵀ reproduces K(X, L) for other points", EmbedOtherPoints);
            harness.Run("Rkhs: bit-identical for every thread count", EmbedDeterminism);
            harness.Run("Rkhs: float is close to double", EmbedFloatCloseToDouble);
            harness.Run("Rkhs: leading dimensions and slices give the dense bits", EmbedLeadingDimension);
            harness.Run("Rkhs: two-dimensional arrays", EmbedRectangularArrays);
            harness.Run("Rkhs: duplicate landmarks give finite output", EmbedDuplicateLandmarks);
            harness.Run("Rkhs: 8 threads embedding at once match sequential runs", EmbedConcurrentCallers);
            harness.Run("Rkhs: helios errors come back as HeliosException", EmbedHeliosErrors);
            harness.Run("Rkhs: .NET-only mistakes get .NET argument exceptions", EmbedArgumentErrors);
            RunNystromTests(harness); // tests/NystromTests.cs
            RunIndexTests(harness); // tests/IndexTests.cs
            RunTokenizerTests(harness); // tests/TokenizerTests.cs
            RunModelTests(harness); // tests/ModelTests.cs
            RunDeviceTests(harness); // tests/DeviceTests.cs
            harness.Run("a process whose kernels ran on worker threads exits", ProcessExits);

            return harness.Finish();
        }

        // ---- references ------------------------------------------------------------------

        // The stencil formula, shared by the reference loops and the kernels so
        // that both do exactly the same arithmetic.
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static float Smooth(float left, float centre, float right)
        {
            return 0.25f * left + 0.5f * centre + 0.25f * right;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static double Smooth(double left, double centre, double right)
        {
            return 0.25 * left + 0.5 * centre + 0.25 * right;
        }

        // Whole-array references, edges clamped.
        private static float[] ReferenceStencil(float[] x)
        {
            var y = new float[x.Length];
            for (int i = 0; i < x.Length; i++)
            {
                y[i] = Smooth(x[Math.Max(i - 1, 0)], x[i], x[Math.Min(i + 1, x.Length - 1)]);
            }
            return y;
        }

        private static double[] ReferenceStencil(double[] x)
        {
            var y = new double[x.Length];
            for (int i = 0; i < x.Length; i++)
            {
                y[i] = Smooth(x[Math.Max(i - 1, 0)], x[i], x[Math.Min(i + 1, x.Length - 1)]);
            }
            return y;
        }

        // The same stencil as kernels: the block holds the core plus the halo.
        private static void StencilKernel(ReadOnlySpan<float> block, int core, Span<float> output)
        {
            for (int k = 0; k < output.Length; k++)
            {
                int i = core + k;
                output[k] = Smooth(block[Math.Max(i - 1, 0)], block[i], block[Math.Min(i + 1, block.Length - 1)]);
            }
        }

        private static void StencilKernel(ReadOnlySpan<double> block, int core, Span<double> output)
        {
            for (int k = 0; k < output.Length; k++)
            {
                int i = core + k;
                output[k] = Smooth(block[Math.Max(i - 1, 0)], block[i], block[Math.Min(i + 1, block.Length - 1)]);
            }
        }

        private static float[] RandomFloats(int length, int seed)
        {
            var random = new Random(seed);
            var values = new float[length];
            for (int i = 0; i < length; i++)
            {
                values[i] = (float)(random.NextDouble() * 2000.0 - 1000.0);
            }
            return values;
        }

        private static double[] RandomDoubles(int length, int seed)
        {
            var random = new Random(seed);
            var values = new double[length];
            for (int i = 0; i < length; i++)
            {
                values[i] = random.NextDouble() * 2000.0 - 1000.0;
            }
            return values;
        }

        private static float[] Iota(int length)
        {
            return Enumerable.Range(0, length).Select(i => (float)i).ToArray();
        }

        private static string FindRoot()
        {
            for (var dir = new DirectoryInfo(AppDomain.CurrentDomain.BaseDirectory); dir != null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "include", "helios.h")))
                {
                    return dir.FullName;
                }
            }
            throw new InvalidOperationException("repository root not found: pass it as the first argument");
        }

        private static string Header()
        {
            return File.ReadAllText(Path.Combine(s_root, "include", "helios.h"));
        }

        // ---- library ---------------------------------------------------------------------

        private static void VersionAndAbi()
        {
            string cargo = File.ReadAllText(Path.Combine(s_root, "Cargo.toml"));
            string expected = Regex.Match(cargo, "^version\\s*=\\s*\"([^\"]+)\"", RegexOptions.Multiline).Groups[1].Value;
            Assert.True(expected.Length > 0, "no version in Cargo.toml");
            Assert.Equal(expected, Library.Version, "Library.Version");

            Match abi = Regex.Match(Header(), "#define HELIOS_ABI_VERSION (\\d+)");
            Assert.True(abi.Success, "no HELIOS_ABI_VERSION in the header");
            uint headerAbi = uint.Parse(abi.Groups[1].Value);
            Assert.Equal(headerAbi, Library.BindingAbiVersion, "Library.BindingAbiVersion");
            Assert.Equal(headerAbi, Library.AbiVersion, "Library.AbiVersion");
            Library.EnsureCompatible();
        }

        private static void AbiMismatch()
        {
            Assert.Equal(null, Library.AbiMismatch(Library.BindingAbiVersion), "the matching ABI");
            string message = Library.AbiMismatch(Library.BindingAbiVersion + 1);
            Assert.Contains("ABI version " + (Library.BindingAbiVersion + 1), message, "mismatch message");
            Assert.Contains("built for ABI version " + Library.BindingAbiVersion, message, "mismatch message");
        }

        private static string UpperSnake(string pascal)
        {
            return Regex.Replace(pascal, "(?<=[a-z])(?=[A-Z])", "_").ToUpperInvariant();
        }

        private static void StatusEnumMirrorsHeader()
        {
            string header = Header();
            int start = header.IndexOf("typedef enum HeliosStatus", StringComparison.Ordinal);
            int end = header.IndexOf("} HeliosStatus;", start, StringComparison.Ordinal);
            Assert.True(start >= 0 && end > start, "HeliosStatus not found in the header");
            var fromHeader = new Dictionary<int, string>();
            foreach (Match m in Regex.Matches(header.Substring(start, end - start), "(HELIOS_\\w+) = (\\d+),"))
            {
                fromHeader.Add(int.Parse(m.Groups[2].Value), m.Groups[1].Value);
            }
            var values = (Status[])Enum.GetValues(typeof(Status));
            Assert.Equal(fromHeader.Count, values.Length, "number of statuses");
            foreach (Status status in values)
            {
                string expected = status == Status.Ok ? "HELIOS_OK" : "HELIOS_ERR_" + UpperSnake(status.ToString());
                Assert.True(fromHeader.ContainsKey((int)status), "the header has no status " + (int)status);
                Assert.Equal(fromHeader[(int)status], expected, "header name of " + status);
            }
        }

        private static void StatusNames()
        {
            string[] expected =
            {
                "HELIOS_OK", "HELIOS_ERR_NULL_ARGUMENT", "HELIOS_ERR_INVALID_ARGUMENT", "HELIOS_ERR_BUFFER_TOO_SMALL",
                "HELIOS_ERR_BUSY", "HELIOS_ERR_CANCELLED", "HELIOS_ERR_IO", "HELIOS_ERR_FORMAT",
                "HELIOS_ERR_UNSUPPORTED", "HELIOS_ERR_DEVICE", "HELIOS_ERR_NUMERIC", "HELIOS_ERR_OUT_OF_MEMORY",
                "HELIOS_ERR_INVALID_STATE", "HELIOS_ERR_INTERNAL",
            };
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.Equal(expected[i], Library.StatusName((Status)i), "StatusName(" + i + ")");
            }
            Assert.Equal("HELIOS_UNKNOWN_STATUS", Library.StatusName((Status)14), "StatusName(14)");
            Assert.Equal("HELIOS_UNKNOWN_STATUS", Library.StatusName((Status)(-1)), "StatusName(-1)");
            Assert.Equal("HELIOS_ERR_BUSY", new HeliosException(Status.Busy, "x").StatusName, "HeliosException.StatusName");
            Assert.Contains("Busy", new HeliosException(Status.Busy, "").Message, "default message");
        }

        // ---- ParallelMap results -----------------------------------------------------------

        private static void FloatStencil()
        {
            float[] input = RandomFloats(100003, 1);
            float[] expected = ReferenceStencil(input);
            Assert.BitIdentical(expected, ParallelMap.Map(input, StencilKernel, halo: 1), "float[] Map");
            var output = new float[input.Length];
            ParallelMap.Map(input, output, StencilKernel, halo: 1);
            Assert.BitIdentical(expected, output, "Span Map");
        }

        private static void DoubleStencil()
        {
            double[] input = RandomDoubles(100003, 2);
            double[] expected = ReferenceStencil(input);
            Assert.BitIdentical(expected, ParallelMap.Map(input, StencilKernel, halo: 1), "double[] Map");
            var output = new double[input.Length];
            ParallelMap.Map(input, output, StencilKernel, halo: 1);
            Assert.BitIdentical(expected, output, "Span Map");
        }

        private static void Determinism()
        {
            const int length = 5003;
            float[] floats = RandomFloats(length, 3);
            double[] doubles = RandomDoubles(length, 4);
            float[] expectedFloats = ReferenceStencil(floats);
            double[] expectedDoubles = ReferenceStencil(doubles);
            foreach (int threads in new[] { 1, 2, 3 })
            {
                foreach (int? block in new int?[] { 1, 7, length, null })
                {
                    foreach (int halo in new[] { 1, 3 })
                    {
                        string what = "threads " + threads + ", block " + (block?.ToString() ?? "auto") + ", halo " + halo;
                        Assert.BitIdentical(expectedFloats,
                            ParallelMap.Map(floats, StencilKernel, halo, block, threads), "float, " + what);
                        Assert.BitIdentical(expectedDoubles,
                            ParallelMap.Map(doubles, StencilKernel, halo, block, threads), "double, " + what);
                    }
                }
            }
        }

        private static void BlockLayout()
        {
            var seen = new List<string>();
            double[] input = Enumerable.Range(0, 10).Select(i => (double)i).ToArray();
            double[] output = ParallelMap.Map(input, (block, core, coreOut) =>
            {
                seen.Add(string.Join(",", block.ToArray()) + " core " + core + " len " + coreOut.Length);
                block.Slice(core, coreOut.Length).CopyTo(coreOut);
            }, halo: 2, blockElems: 4, threads: 1);
            Assert.Equal("0,1,2,3,4,5 core 0 len 4|2,3,4,5,6,7,8,9 core 2 len 4|6,7,8,9 core 2 len 2",
                string.Join("|", seen), "blocks");
            Assert.BitIdentical(input, output, "copy kernel");
        }

        private static void SpanOverloads()
        {
            float[] input = RandomFloats(64, 5);
            float[] expected = ReferenceStencil(input.AsSpan(8, 16).ToArray());
            Span<float> output = stackalloc float[16];
            ParallelMap.Map(input.AsSpan(8, 16), output, StencilKernel, halo: 1, blockElems: 3, threads: 2);
            Assert.BitIdentical(expected, output.ToArray(), "stackalloc output, sliced input");

            var longer = new double[20];
            for (int i = 0; i < longer.Length; i++)
            {
                longer[i] = -7.5;
            }
            double[] small = RandomDoubles(12, 6);
            ParallelMap.Map(small, longer, StencilKernel, halo: 1, blockElems: 5);
            Assert.BitIdentical(ReferenceStencil(small), longer.Take(12).ToArray(), "the first 12 elements");
            Assert.True(longer.Skip(12).All(v => v == -7.5), "elements past the input length were changed");
        }

        private static void NativeWorkerThreads()
        {
            int caller = Thread.CurrentThread.ManagedThreadId;
            var threadIds = new HashSet<int>();
            float[] input = RandomFloats(64 * 16, 7);
            int original = Library.NumThreads;
            // The pool has max(default count, CPU count) threads: raise the
            // default so that 4 workers exist even on a single CPU.
            Library.NumThreads = 4;
            try
            {
                using (var two = new ManualResetEventSlim())
                {
                    float[] output = ParallelMap.Map(input, (block, core, coreOut) =>
                    {
                        lock (threadIds)
                        {
                            threadIds.Add(Thread.CurrentThread.ManagedThreadId);
                            if (threadIds.Count >= 2)
                            {
                                two.Set();
                            }
                        }
                        // Hold every kernel until a second thread runs one too,
                        // so the run shows kernels running at once.
                        two.Wait(10000);
                        StencilKernel(block, core, coreOut);
                    }, halo: 1, blockElems: 16, threads: 4);
                    Assert.BitIdentical(ReferenceStencil(input), output, "result");
                }
            }
            finally
            {
                Library.NumThreads = original;
            }
            Assert.True(threadIds.Count >= 2, "expected kernels on several threads at once, saw " + threadIds.Count);
            // The calling thread is one of the workers; the others are native pool threads.
            threadIds.Remove(caller);
            Assert.True(threadIds.Count >= 1, "no kernel ran on a native worker thread");
        }

        private static void GarbageCollectionDuringRun()
        {
            double[] input = RandomDoubles(4000, 8);
            for (int round = 0; round < 3; round++)
            {
                double[] output = ParallelMap.Map(input, (block, core, coreOut) =>
                {
                    var garbage = new List<double[]>();
                    for (int i = 0; i < 50; i++)
                    {
                        garbage.Add(new double[100]);
                    }
                    if (core == 1 && block[0] > 0)
                    {
                        GC.Collect();
                    }
                    StencilKernel(block, core, coreOut);
                }, halo: 1, blockElems: 50, threads: 4);
                Assert.BitIdentical(ReferenceStencil(input), output, "round " + round);
            }
        }

        private static void KernelExceptionRethrown()
        {
            float[] input = Iota(2000);
            Kernel<float> failAtHundreds = (block, core, coreOut) =>
            {
                for (int k = 0; k < coreOut.Length; k++)
                {
                    int index = (int)block[core + k];
                    if (index >= 500 && index % 100 == 0)
                    {
                        throw new KernelFailure(index);
                    }
                    coreOut[k] = block[core + k];
                }
            };
            foreach (int threads in new[] { 1, 2, 4 })
            {
                KernelFailure failure = Assert.Throws<KernelFailure>(
                    () => ParallelMap.Map(input, failAtHundreds, blockElems: 10, threads: threads),
                    "threads " + threads);
                Assert.Equal(500, failure.Index, "the lowest failing block, threads " + threads);
                Assert.Contains("KernelExceptionRethrown", failure.StackTrace ?? "", "the kernel's stack trace is kept");
            }
            // Other exception types pass through as they are, including on worker threads.
            Assert.Throws<OperationCanceledException>(() => ParallelMap.Map(RandomDoubles(100, 9),
                (block, core, coreOut) => throw new OperationCanceledException(), blockElems: 10, threads: 3),
                "OperationCanceledException");
            Assert.Throws<IndexOutOfRangeException>(() => ParallelMap.Map(input,
                (block, core, coreOut) => coreOut[coreOut.Length] = 1, threads: 2), "an index error in the kernel");
            // The failed runs left nothing behind.
            Assert.BitIdentical(input, ParallelMap.Map(input, (block, core, coreOut) =>
                block.Slice(core, coreOut.Length).CopyTo(coreOut), blockElems: 10, threads: 4), "a run after failures");
        }

        // ---- errors ------------------------------------------------------------------------

        private static void HeliosErrors()
        {
            float[] input = RandomFloats(100, 10);
            Assert.Helios(Status.InvalidArgument, "thread",
                () => ParallelMap.Map(input, StencilKernel, threads: 0), "threads 0");
            Assert.Helios(Status.InvalidArgument, "1024",
                () => ParallelMap.Map(input, StencilKernel, threads: 1025), "threads 1025");
            Assert.Helios(Status.InvalidArgument, "empty",
                () => ParallelMap.Map(new float[0], StencilKernel), "empty float[] input");
            Assert.Helios(Status.InvalidArgument, "empty",
                () => ParallelMap.Map(ReadOnlySpan<double>.Empty, Span<double>.Empty, StencilKernel), "empty spans");
            Assert.Helios(Status.InvalidArgument, "halo",
                () => ParallelMap.Map(input, StencilKernel, halo: 101), "halo > length");
            ParallelMap.Map(input, StencilKernel, halo: 100); // halo == length is allowed
            Assert.Helios(Status.InvalidArgument, "block_elems",
                () => ParallelMap.Map(input, StencilKernel, blockElems: 0), "blockElems 0");
            Assert.Helios(Status.BufferTooSmall, "needed",
                () => ParallelMap.Map(input, new float[99], StencilKernel), "output too small");
            Assert.Helios(Status.InvalidArgument, "overlap",
                () => ParallelMap.Map(input, input, StencilKernel), "output == input");
            Assert.Helios(Status.InvalidArgument, "overlap",
                () => ParallelMap.Map(input.AsSpan(0, 50), input.AsSpan(49, 51), StencilKernel), "overlapping slices");
            Assert.Helios(Status.InvalidArgument, "thread",
                () => Library.NumThreads = 0, "NumThreads = 0");
        }

        private static void ArgumentErrors()
        {
            double[] input = RandomDoubles(10, 11);
            Assert.Equal("halo", Assert.Throws<ArgumentOutOfRangeException>(
                () => ParallelMap.Map(input, StencilKernel, halo: -1), "halo -1").ParamName, "ParamName");
            Assert.Equal("blockElems", Assert.Throws<ArgumentOutOfRangeException>(
                () => ParallelMap.Map(input, StencilKernel, blockElems: -1), "blockElems -1").ParamName, "ParamName");
            Assert.Equal("threads", Assert.Throws<ArgumentOutOfRangeException>(
                () => ParallelMap.Map(input, StencilKernel, threads: -2), "threads -2").ParamName, "ParamName");
            Assert.Equal("kernel", Assert.Throws<ArgumentNullException>(
                () => ParallelMap.Map(input, (Kernel<double>)null), "null kernel").ParamName, "ParamName");
            Assert.Throws<ArgumentOutOfRangeException>(() => Library.NumThreads = -1, "NumThreads = -1");
        }

        // Run body(0) .. body(count - 1) on their own threads, released together;
        // rethrow the first exception any of them threw.
        private static void OnThreads(int count, Action<int> body)
        {
            Exception problem = null;
            using (var go = new ManualResetEventSlim())
            {
                var workers = Enumerable.Range(0, count).Select(index => new Thread(() =>
                {
                    try
                    {
                        go.Wait();
                        body(index);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref problem, e, null);
                    }
                })).ToList();
                workers.ForEach(w => w.Start());
                go.Set();
                workers.ForEach(w => w.Join());
            }
            if (problem != null)
            {
                throw problem;
            }
        }

        private static void ConcurrentErrorMessages()
        {
            float[] input = RandomFloats(50, 12);
            OnThreads(8, t =>
            {
                for (int i = 0; i < 200; i++)
                {
                    if ((t + i) % 2 == 0)
                    {
                        Assert.Helios(Status.InvalidArgument, "halo 51",
                            () => ParallelMap.Map(input, StencilKernel, halo: 51, threads: 1), "halo");
                    }
                    else
                    {
                        Assert.Helios(Status.BufferTooSmall, "holds 7 elements",
                            () => ParallelMap.Map(input, new float[7], StencilKernel, threads: 1), "buffer");
                    }
                }
            });
        }

        private static void NumThreads()
        {
            int original = Library.NumThreads;
            Assert.True(original >= 1 && original <= 1024, "NumThreads is " + original);
            try
            {
                Library.NumThreads = 3;
                Assert.Equal(3, Library.NumThreads, "after setting 3");
                float[] input = RandomFloats(20000, 13);
                Assert.BitIdentical(ReferenceStencil(input), ParallelMap.Map(input, StencilKernel, halo: 1),
                    "a run with the new default");
            }
            finally
            {
                Library.NumThreads = original;
            }
            Assert.Equal(original, Library.NumThreads, "restored");
        }

        // ---- cancellation ------------------------------------------------------------------

        private static void CancelTokenBasics()
        {
            using (var token = new CancelToken())
            {
                Assert.True(!token.IsCancelled, "a new token is not cancelled");
                token.Cancel();
                Assert.True(token.IsCancelled, "cancelled after Cancel");
                token.Cancel();
                Assert.True(token.IsCancelled, "cancelling twice is harmless");
                token.Reset();
                Assert.True(!token.IsCancelled, "lowered after Reset");
            }
        }

        private static void CancelledTokenStopsRun()
        {
            float[] input = RandomFloats(1000, 14);
            using (var token = new CancelToken())
            {
                token.Cancel();
                foreach (int threads in new[] { 1, 3 })
                {
                    int calls = 0;
                    Assert.Helios(Status.Cancelled, "cancel", () => ParallelMap.Map(input, (block, core, coreOut) =>
                    {
                        Interlocked.Increment(ref calls);
                        StencilKernel(block, core, coreOut);
                    }, halo: 1, blockElems: 10, threads: threads, cancel: token), "threads " + threads);
                    Assert.Equal(0, calls, "kernel calls after a cancelled token, threads " + threads);
                }
                token.Reset();
                Assert.BitIdentical(ReferenceStencil(input),
                    ParallelMap.Map(input, StencilKernel, halo: 1, blockElems: 10, cancel: token), "after Reset");
            }
        }

        // Run 200 blocks on 2 threads; once 5 blocks ran, `raise` is called on
        // another thread and the kernel waits until the token is raised, so the
        // run must stop well before its end.
        private static void RunUntilRaised(CancelToken token, Action raise)
        {
            const int blocks = 200;
            float[] input = RandomFloats(blocks * 10, 15);
            int calls = 0;
            using (var started = new ManualResetEventSlim())
            {
                var canceller = new Thread(() =>
                {
                    started.Wait();
                    raise();
                });
                canceller.Start();
                try
                {
                    Assert.Helios(Status.Cancelled, "cancel", () => ParallelMap.Map(input, (block, core, coreOut) =>
                    {
                        if (Interlocked.Increment(ref calls) >= 5)
                        {
                            started.Set();
                            // The token is shareable: query it from the worker threads.
                            for (int waited = 0; !token.IsCancelled && waited < 10000; waited++)
                            {
                                Thread.Sleep(1);
                            }
                        }
                        StencilKernel(block, core, coreOut);
                    }, halo: 1, blockElems: 10, threads: 2, cancel: token), "mid-run cancel");
                }
                finally
                {
                    started.Set();
                    canceller.Join();
                }
            }
            Assert.True(calls >= 5 && calls <= 5 + 2, calls + " of " + blocks + " blocks ran");
        }

        private static void CancelFromAnotherThread()
        {
            using (var token = new CancelToken())
            {
                RunUntilRaised(token, token.Cancel);
                Assert.True(token.IsCancelled, "the token stays raised");
            }
        }

        private static void CancellationTokenMapping()
        {
            using (var source = new CancellationTokenSource())
            using (var token = CancelToken.FromCancellationToken(source.Token))
            {
                Assert.True(!token.IsCancelled, "not cancelled before the source");
                RunUntilRaised(token, source.Cancel);
                Assert.True(token.IsCancelled, "raised by the source");
            }

            using (var source = new CancellationTokenSource())
            {
                source.Cancel();
                using (var token = CancelToken.FromCancellationToken(source.Token))
                {
                    Assert.True(token.IsCancelled, "an already-cancelled source raises the token at once");
                    Assert.Helios(Status.Cancelled, "cancel",
                        () => ParallelMap.Map(new[] { 1.0 }, StencilKernel, cancel: token), "run");
                }
            }

            using (var token = CancelToken.FromCancellationToken(CancellationToken.None))
            {
                Assert.True(!token.IsCancelled, "CancellationToken.None never raises");
                ParallelMap.Map(new[] { 1.0f, 2.0f }, StencilKernel, halo: 1, cancel: token);
            }

            // A disposed token is unregistered: cancelling the source later is harmless.
            using (var source = new CancellationTokenSource())
            {
                CancelToken token = CancelToken.FromCancellationToken(source.Token);
                token.Dispose();
                source.Cancel();
            }
        }

        private static void DisposedToken()
        {
            var token = new CancelToken();
            token.Dispose();
            Assert.Throws<ObjectDisposedException>(() => token.Cancel(), "Cancel");
            Assert.Throws<ObjectDisposedException>(() => token.Reset(), "Reset");
            Assert.Throws<ObjectDisposedException>(() => { bool unused = token.IsCancelled; }, "IsCancelled");
            Assert.Throws<ObjectDisposedException>(
                () => ParallelMap.Map(new[] { 1.0f }, StencilKernel, cancel: token), "Map");
            token.Dispose();
        }

        private static void DisposeDuringRun()
        {
            float[] input = RandomFloats(400, 16);
            var token = new CancelToken();
            using (var started = new ManualResetEventSlim())
            {
                var disposer = new Thread(() =>
                {
                    started.Wait();
                    token.Dispose();
                });
                disposer.Start();
                float[] output = ParallelMap.Map(input, (block, core, coreOut) =>
                {
                    started.Set();
                    Thread.Sleep(1);
                    StencilKernel(block, core, coreOut);
                }, halo: 1, blockElems: 10, threads: 2, cancel: token);
                disposer.Join();
                Assert.BitIdentical(ReferenceStencil(input), output, "the run finished with its token");
            }
            Assert.Throws<ObjectDisposedException>(() => token.Cancel(), "after the run");
        }

        // ---- concurrency -------------------------------------------------------------------

        private static void ConcurrentCallers()
        {
            const int callers = 4;
            const int runs = 10;
            var inputs = new float[callers][][];
            var expected = new float[callers][][];
            for (int c = 0; c < callers; c++)
            {
                inputs[c] = new float[runs][];
                expected[c] = new float[runs][];
                for (int r = 0; r < runs; r++)
                {
                    inputs[c][r] = RandomFloats(3000 + 977 * r + c, 100 * c + r);
                    expected[c][r] = ParallelMap.Map(inputs[c][r], StencilKernel, halo: 1, blockElems: 64, threads: 1);
                }
            }
            OnThreads(callers, c =>
            {
                for (int r = 0; r < runs; r++)
                {
                    float[] output = ParallelMap.Map(inputs[c][r], StencilKernel, halo: 1, blockElems: 64,
                        threads: 1 + (r % 3));
                    Assert.BitIdentical(expected[c][r], output, "caller " + c + ", run " + r);
                }
            });
        }

        // ---- RKHS feature map --------------------------------------------------------------

        // Points uniform in [-scale, scale]^d, row-major, one row after another.
        private static double[] RandomPoints(int rows, int d, double scale, int seed)
        {
            var random = new Random(seed);
            var values = new double[rows * d];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (random.NextDouble() * 2.0 - 1.0) * scale;
            }
            return values;
        }

        private static float[] ToFloats(double[] values)
        {
            return values.Select(v => (float)v).ToArray();
        }

        // K(A, B)[i, j] = exp(-gamma ||a_i - b_j||²), the plain definition.
        private static double[] RbfKernel(double[] a, int rowsA, double[] b, int rowsB, int d, double gamma)
        {
            var k = new double[rowsA * rowsB];
            for (int i = 0; i < rowsA; i++)
            {
                for (int j = 0; j < rowsB; j++)
                {
                    double squared = 0.0;
                    for (int c = 0; c < d; c++)
                    {
                        double diff = a[i * d + c] - b[j * d + c];
                        squared += diff * diff;
                    }
                    k[i * rowsB + j] = Math.Exp(-gamma * squared);
                }
            }
            return k;
        }

        // A · Bᵀ for row-major A (rowsA x cols) and B (rowsB x cols).
        private static double[] TimesTransposed(double[] a, int rowsA, double[] b, int rowsB, int cols)
        {
            var product = new double[rowsA * rowsB];
            for (int i = 0; i < rowsA; i++)
            {
                for (int j = 0; j < rowsB; j++)
                {
                    double sum = 0.0;
                    for (int c = 0; c < cols; c++)
                    {
                        sum += a[i * cols + c] * b[j * cols + c];
                    }
                    product[i * rowsB + j] = sum;
                }
            }
            return product;
        }

        private static void Close(double[] expected, double[] actual, double tolerance, string what)
        {
            Assert.Equal(expected.Length, actual.Length, what + " (length)");
            for (int i = 0; i < expected.Length; i++)
            {
                if (!(Math.Abs(expected[i] - actual[i]) <= tolerance))
                {
                    throw new AssertionException(what + ": element " + i + " is " + actual[i].ToString("R")
                        + " but the reference has " + expected[i].ToString("R") + " (tolerance " + tolerance + ")");
                }
            }
        }

        // The same matrix with rows `stride` apart; the padding holds NaN, so
        // helios reading it would fail with Status.Numeric.
        private static T[] Padded<T>(T[] dense, int rows, int d, int stride, T padding)
        {
            var padded = new T[(rows - 1) * stride + d];
            for (int i = 0; i < padded.Length; i++)
            {
                padded[i] = padding;
            }
            for (int i = 0; i < rows; i++)
            {
                Array.Copy(dense, i * d, padded, i * stride, d);
            }
            return padded;
        }

        private static void EmbedReproducesKernel()
        {
            const int n = 40, d = 5;
            const double gamma = 0.5;
            double[] x = RandomPoints(n, d, 1.0, 20);
            // With the points as landmarks and no ridge, Phi = K^(1/2), so Phi Phiᵀ = K.
            double[] phi = Rkhs.Embed(x, n, d, x, n, gamma, ridge: 0.0);
            Assert.Equal(n * n, phi.Length, "n x m elements");
            double[] k = RbfKernel(x, n, x, n, d, gamma);
            Close(k, TimesTransposed(phi, n, phi, n, n), 1e-8, "Phi Phiᵀ against K");
            // Phi(L) is the symmetric square root of K(L, L).
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < i; j++)
                {
                    Assert.True(Math.Abs(phi[i * n + j] - phi[j * n + i]) <= 1e-10, "Phi(L) is not symmetric at "
                        + i + ", " + j);
                }
            }
        }

        private static void EmbedOtherPoints()
        {
            const int n = 50, m = 12, d = 3;
            const double gamma = 0.8;
            double[] x = RandomPoints(n, d, 1.5, 21);
            double[] landmarks = RandomPoints(m, d, 1.5, 22);
            // Phi(X) Phi(L)ᵀ = K(X, L) K(L, L)^(-1/2) K(L, L)^(1/2) = K(X, L).
            double[] phiX = Rkhs.Embed(x, n, d, landmarks, m, gamma, ridge: 0.0);
            double[] phiL = Rkhs.Embed(landmarks, m, d, landmarks, m, gamma, ridge: 0.0);
            Close(RbfKernel(x, n, landmarks, m, d, gamma), TimesTransposed(phiX, n, phiL, m, m), 1e-8,
                "Phi(X) Phi(L)ᵀ against K(X, L)");
            Close(RbfKernel(landmarks, m, landmarks, m, d, gamma), TimesTransposed(phiL, m, phiL, m, m), 1e-8,
                "Phi(L) Phi(L)ᵀ against K(L, L)");
            // A ridge shrinks the map: Phi Phiᵀ = K (K + ridge I)^(-1) K is below K on the diagonal.
            double[] ridged = Rkhs.Embed(landmarks, m, d, landmarks, m, gamma, ridge: 0.1);
            double[] gram = TimesTransposed(ridged, m, ridged, m, m);
            for (int i = 0; i < m; i++)
            {
                Assert.True(gram[i * m + i] < 1.0 && gram[i * m + i] > 0.5, "ridged diagonal " + gram[i * m + i]);
            }
        }

        private static void EmbedDeterminism()
        {
            const int n = 1000, m = 30, d = 8; // 4 blocks of 256 rows
            float[] x = ToFloats(RandomPoints(n, d, 2.0, 23));
            float[] landmarks = ToFloats(RandomPoints(m, d, 2.0, 24));
            float[] reference = Rkhs.Embed(x, n, d, landmarks, m, 0.3, threads: 1);
            Assert.True(reference.All(v => !float.IsNaN(v) && !float.IsInfinity(v)), "finite output");
            Assert.True(reference.Any(v => v != 0.0f), "a non-zero output");
            foreach (int? threads in new int?[] { 2, 3, 4, 7, null })
            {
                Assert.BitIdentical(reference, Rkhs.Embed(x, n, d, landmarks, m, 0.3, threads: threads),
                    "float, threads " + (threads?.ToString() ?? "auto"));
            }
            double[] xd = RandomPoints(n, d, 2.0, 25);
            double[] ld = RandomPoints(m, d, 2.0, 26);
            double[] referenceDouble = Rkhs.Embed(xd, n, d, ld, m, 0.3, threads: 1);
            foreach (int? threads in new int?[] { 2, 3, null })
            {
                Assert.BitIdentical(referenceDouble, Rkhs.Embed(xd, n, d, ld, m, 0.3, threads: threads),
                    "double, threads " + (threads?.ToString() ?? "auto"));
            }
        }

        private static void EmbedFloatCloseToDouble()
        {
            const int n = 300, m = 25, d = 6;
            double[] x = RandomPoints(n, d, 1.0, 27);
            double[] landmarks = RandomPoints(m, d, 1.0, 28);
            double[] exact = Rkhs.Embed(x, n, d, landmarks, m, 1.0);
            float[] single = Rkhs.Embed(ToFloats(x), n, d, ToFloats(landmarks), m, 1.0);
            Close(exact, single.Select(v => (double)v).ToArray(), 1e-4, "float against double");
            double largest = exact.Max(v => Math.Abs(v));
            Assert.True(largest > 0.1, "the map is not trivially small: " + largest);
        }

        private static void EmbedLeadingDimension()
        {
            const int n = 300, m = 17, d = 4, ldx = 7, ldl = 5;
            double[] x = RandomPoints(n, d, 1.0, 29);
            double[] landmarks = RandomPoints(m, d, 1.0, 30);
            double[] dense = Rkhs.Embed(x, n, d, landmarks, m, 0.7, threads: 2);

            // Padding of NaN between rows is never read; an output longer than
            // n·m keeps its tail.
            var output = new double[n * m + 5];
            for (int i = 0; i < output.Length; i++)
            {
                output[i] = -3.5;
            }
            Rkhs.Embed(Padded(x, n, d, ldx, double.NaN), n, d, ldx, Padded(landmarks, m, d, ldl, double.NaN), m, ldl,
                output, 0.7, threads: 3);
            Assert.BitIdentical(dense, output.Take(n * m).ToArray(), "double, padded rows");
            Assert.True(output.Skip(n * m).All(v => v == -3.5), "elements past n·m were changed");

            float[] xf = ToFloats(x), lf = ToFloats(landmarks);
            float[] denseFloat = Rkhs.Embed(xf, n, d, lf, m, 0.7);
            var outputFloat = new float[n * m];
            Rkhs.Embed(Padded(xf, n, d, ldx, float.NaN), n, d, ldx, Padded(lf, m, d, ldl, float.NaN), m, ldl,
                outputFloat, 0.7);
            Assert.BitIdentical(denseFloat, outputFloat, "float, padded rows");

            // ld == d through the Span overload, on slices of larger arrays.
            var big = new float[5 + n * d + 3];
            Array.Copy(xf, 0, big, 5, n * d);
            Span<float> target = new float[n * m + 2];
            Rkhs.Embed(big.AsSpan(5, n * d), n, d, d, lf, m, d, target.Slice(1, n * m), 0.7);
            Assert.BitIdentical(denseFloat, target.Slice(1, n * m).ToArray(), "float, sliced spans");

            // A sub-matrix: columns 1..3 of a 6-column matrix, as d = 3 with ld = 6.
            double[] wide = RandomPoints(n, 6, 1.0, 31);
            double[] columns = new double[n * 3];
            for (int i = 0; i < n; i++)
            {
                Array.Copy(wide, i * 6 + 1, columns, i * 3, 3);
            }
            var sub = new double[n * n];
            Rkhs.Embed(wide.AsSpan(1), n, 3, 6, wide.AsSpan(1), n, 6, sub, 0.5);
            Assert.BitIdentical(Rkhs.Embed(columns, n, 3, columns, n, 0.5), sub, "a column block with ld 6");
        }

        private static void EmbedRectangularArrays()
        {
            const int n = 30, m = 9, d = 4;
            double[] x = RandomPoints(n, d, 1.0, 32);
            double[] landmarks = RandomPoints(m, d, 1.0, 33);
            var x2 = new double[n, d];
            var l2 = new double[m, d];
            Buffer.BlockCopy(x, 0, x2, 0, x.Length * sizeof(double));
            Buffer.BlockCopy(landmarks, 0, l2, 0, landmarks.Length * sizeof(double));
            double[,] phi = Rkhs.Embed(x2, l2, 0.9, threads: 2);
            Assert.Equal(n, phi.GetLength(0), "rows");
            Assert.Equal(m, phi.GetLength(1), "columns");
            var flat = new double[n * m];
            Buffer.BlockCopy(phi, 0, flat, 0, flat.Length * sizeof(double));
            Assert.BitIdentical(Rkhs.Embed(x, n, d, landmarks, m, 0.9), flat, "double[,] against double[]");

            float[,] phiFloat = Rkhs.Embed(new float[,] { { 0, 0 }, { 1, 1 } }, new float[,] { { 0, 0 }, { 1, 1 } }, 0.5,
                ridge: 0.0);
            float k01 = phiFloat[0, 0] * phiFloat[1, 0] + phiFloat[0, 1] * phiFloat[1, 1];
            Assert.True(Math.Abs(k01 - Math.Exp(-1.0)) < 1e-6, "float[,]: k(x0, x1) = " + k01);

            Assert.Helios(Status.InvalidArgument, "empty",
                () => Rkhs.Embed(new float[0, 2], new float[3, 2], 1.0), "no rows");
            Assert.Helios(Status.InvalidArgument, "empty",
                () => Rkhs.Embed(new double[2, 0], new double[3, 0], 1.0), "no columns");
            Assert.Equal("landmarks", Assert.Throws<ArgumentException>(
                () => Rkhs.Embed(new float[2, 3], new float[2, 2], 1.0), "column mismatch").ParamName, "ParamName");
            Assert.Equal("x", Assert.Throws<ArgumentNullException>(
                () => Rkhs.Embed((double[,])null, l2, 1.0), "null x").ParamName, "ParamName");
            Assert.Equal("landmarks", Assert.Throws<ArgumentNullException>(
                () => Rkhs.Embed(x2, (double[,])null, 1.0), "null landmarks").ParamName, "ParamName");
        }

        private static void EmbedDuplicateLandmarks()
        {
            const int n = 20, d = 3;
            const double gamma = 0.6;
            double[] points = RandomPoints(n, d, 1.0, 34);
            // Every point twice: K(L, L) is singular, and the pseudo-inverse
            // still gives Phi Phiᵀ = K on the points.
            double[] twice = points.Concat(points).ToArray();
            foreach (double ridge in new[] { 0.0, 1e-6 })
            {
                double[] phi = Rkhs.Embed(points, n, d, twice, 2 * n, gamma, ridge);
                Assert.True(phi.All(v => !double.IsNaN(v) && !double.IsInfinity(v)), "finite, ridge " + ridge);
                if (ridge == 0.0)
                {
                    Close(RbfKernel(points, n, points, n, d, gamma), TimesTransposed(phi, n, phi, n, 2 * n), 1e-7,
                        "Phi Phiᵀ with duplicated landmarks");
                }
                float[] phiFloat = Rkhs.Embed(ToFloats(points), n, d, ToFloats(twice), 2 * n, gamma, ridge);
                Assert.True(phiFloat.All(v => !float.IsNaN(v) && !float.IsInfinity(v)), "float finite, ridge " + ridge);
            }
            // Five copies of one landmark: K(L, L) has rank 1, Phi has one
            // direction and Phi Phiᵀ = k(x, l) k(y, l).
            double[] same = Enumerable.Repeat(new[] { 0.1, -0.2, 0.3 }, 5).SelectMany(r => r).ToArray();
            double[] single = Rkhs.Embed(points, n, d, same, 5, gamma, ridge: 0.0);
            Assert.True(single.All(v => !double.IsNaN(v) && !double.IsInfinity(v)), "one landmark five times");
            double[] kxl = RbfKernel(points, n, same, 1, d, gamma);
            Close(TimesTransposed(kxl, n, kxl, n, 1), TimesTransposed(single, n, single, n, 5), 1e-8,
                "Phi Phiᵀ with one repeated landmark");
        }

        private static void EmbedConcurrentCallers()
        {
            const int callers = 8, runs = 4, d = 5, m = 16;
            var inputs = new float[callers][];
            var landmarks = new float[callers][];
            var rows = new int[callers];
            var expected = new float[callers][];
            for (int c = 0; c < callers; c++)
            {
                rows[c] = 300 + 97 * c;
                inputs[c] = ToFloats(RandomPoints(rows[c], d, 1.0, 40 + c));
                landmarks[c] = ToFloats(RandomPoints(m, d, 1.0, 60 + c));
                expected[c] = Rkhs.Embed(inputs[c], rows[c], d, landmarks[c], m, 0.4, threads: 1);
            }
            OnThreads(callers, c =>
            {
                for (int r = 0; r < runs; r++)
                {
                    float[] output = Rkhs.Embed(inputs[c], rows[c], d, landmarks[c], m, 0.4,
                        threads: 1 + ((c + r) % 3));
                    Assert.BitIdentical(expected[c], output, "caller " + c + ", run " + r);
                }
                // A failure on this thread keeps this thread's message.
                Assert.Helios(Status.InvalidArgument, "gamma is -" + (c + 1),
                    () => Rkhs.Embed(inputs[c], rows[c], d, landmarks[c], m, -(c + 1)), "caller " + c);
            });
        }

        private static void EmbedHeliosErrors()
        {
            const int n = 8, m = 3, d = 2;
            float[] x = ToFloats(RandomPoints(n, d, 1.0, 35));
            float[] landmarks = ToFloats(RandomPoints(m, d, 1.0, 36));
            double[] xd = RandomPoints(n, d, 1.0, 37);
            var output = new float[n * m];
            Assert.Helios(Status.InvalidArgument, "gamma", () => Rkhs.Embed(x, n, d, landmarks, m, 0.0), "gamma 0");
            Assert.Helios(Status.InvalidArgument, "gamma", () => Rkhs.Embed(x, n, d, landmarks, m, -1.0), "gamma -1");
            Assert.Helios(Status.InvalidArgument, "gamma",
                () => Rkhs.Embed(xd, n, d, xd, n, double.NaN), "gamma NaN");
            Assert.Helios(Status.InvalidArgument, "gamma",
                () => Rkhs.Embed(x, n, d, landmarks, m, double.PositiveInfinity), "gamma +Inf");
            Assert.Helios(Status.InvalidArgument, "ridge",
                () => Rkhs.Embed(x, n, d, landmarks, m, 1.0, ridge: -1.0), "ridge -1");
            Assert.Helios(Status.InvalidArgument, "ridge",
                () => Rkhs.Embed(xd, n, d, xd, n, 1.0, ridge: double.NaN), "ridge NaN");
            Assert.Helios(Status.InvalidArgument, "ridge",
                () => Rkhs.Embed(x, n, d, landmarks, m, 1.0, ridge: double.PositiveInfinity), "ridge +Inf");
            Assert.Helios(Status.InvalidArgument, "thread",
                () => Rkhs.Embed(x, n, d, landmarks, m, 1.0, threads: 0), "threads 0");
            Assert.Helios(Status.InvalidArgument, "1024",
                () => Rkhs.Embed(x, n, d, landmarks, m, 1.0, threads: 1025), "threads 1025");
            Assert.Helios(Status.InvalidArgument, "empty",
                () => Rkhs.Embed(new float[0], 0, d, landmarks, m, 1.0), "n 0");
            Assert.Helios(Status.InvalidArgument, "empty",
                () => Rkhs.Embed(x, n, d, new float[0], 0, 1.0), "m 0");
            Assert.Helios(Status.InvalidArgument, "empty",
                () => Rkhs.Embed(new double[0], 4, 0, new double[0], 2, 1.0), "d 0");
            Assert.Helios(Status.InvalidArgument, "leading dimension",
                () => Rkhs.Embed(x, n, d, 1, landmarks, m, d, output, 1.0), "ldx < d");
            Assert.Helios(Status.InvalidArgument, "leading dimension",
                () => Rkhs.Embed(x, n, d, d, landmarks, m, 0, output, 1.0), "ldl < d");

            // A NaN or infinity names its row.
            float[] withNaN = (float[])x.Clone();
            withNaN[5 * d + 1] = float.NaN;
            Assert.Helios(Status.Numeric, "row 5", () => Rkhs.Embed(withNaN, n, d, landmarks, m, 1.0), "NaN in x");
            double[] withInfinity = (double[])xd.Clone();
            withInfinity[2 * d] = double.NegativeInfinity;
            Assert.Helios(Status.Numeric, "row 2",
                () => Rkhs.Embed(xd, n, d, withInfinity, n, 1.0), "-Inf in the landmarks");
            HeliosException inLandmarks = Assert.Helios(Status.Numeric, "landmarks",
                () => Rkhs.Embed(xd, n, d, withInfinity, n, 1.0), "-Inf in the landmarks");
            Assert.Equal("HELIOS_ERR_NUMERIC", inLandmarks.StatusName, "StatusName");

            // Output shorter than n·m; an empty one too.
            Assert.Helios(Status.BufferTooSmall, "24",
                () => Rkhs.Embed(x, n, d, d, landmarks, m, d, new float[n * m - 1], 1.0), "output too small");
            Assert.Helios(Status.BufferTooSmall, "needed",
                () => Rkhs.Embed(x, n, d, d, landmarks, m, d, Span<float>.Empty, 1.0), "empty output");
            Assert.Helios(Status.BufferTooSmall, "needed",
                () => Rkhs.Embed(xd, n, d, d, xd, n, d, new double[n * n - 1], 1.0), "double output too small");

            // Output overlapping an input.
            var shared = new float[n * d + n * m];
            Array.Copy(x, shared, x.Length);
            Assert.Helios(Status.InvalidArgument, "overlap",
                () => Rkhs.Embed(shared.AsSpan(0, n * d), n, d, d, landmarks, m, d, shared.AsSpan(n * d - 1), 1.0),
                "output overlapping x");
            Rkhs.Embed(shared.AsSpan(0, n * d), n, d, d, landmarks, m, d, shared.AsSpan(n * d), 1.0); // adjacent is fine
        }

        private static void EmbedArgumentErrors()
        {
            const int n = 6, m = 4, d = 3;
            double[] x = RandomPoints(n, d, 1.0, 38);
            double[] landmarks = RandomPoints(m, d, 1.0, 39);
            var output = new double[n * m];
            Assert.Equal("x", Assert.Throws<ArgumentNullException>(
                () => Rkhs.Embed((double[])null, n, d, landmarks, m, 1.0), "null x").ParamName, "ParamName");
            Assert.Equal("landmarks", Assert.Throws<ArgumentNullException>(
                () => Rkhs.Embed(ToFloats(x), n, d, (float[])null, m, 1.0), "null landmarks").ParamName, "ParamName");
            Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(
                () => Rkhs.Embed(x, -1, d, landmarks, m, 1.0), "n -1").ParamName, "ParamName");
            Assert.Equal("d", Assert.Throws<ArgumentOutOfRangeException>(
                () => Rkhs.Embed(x, n, -3, landmarks, m, 1.0), "d -3").ParamName, "ParamName");
            Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(
                () => Rkhs.Embed(x, n, d, landmarks, -4, 1.0), "m -4").ParamName, "ParamName");
            Assert.Equal("threads", Assert.Throws<ArgumentOutOfRangeException>(
                () => Rkhs.Embed(x, n, d, landmarks, m, 1.0, threads: -1), "threads -1").ParamName, "ParamName");
            Assert.Equal("ldx", Assert.Throws<ArgumentOutOfRangeException>(
                () => Rkhs.Embed(x, n, d, -1, landmarks, m, d, output, 1.0), "ldx -1").ParamName, "ParamName");
            Assert.Equal("ldl", Assert.Throws<ArgumentOutOfRangeException>(
                () => Rkhs.Embed(x, n, d, d, landmarks, m, -2, output, 1.0), "ldl -2").ParamName, "ParamName");
            Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(
                () => Rkhs.Embed(new double[0], 65536, 0, new double[0], 65536, 1.0), "n·m over a .NET array")
                .ParamName, "ParamName");

            // Arrays must hold the dense matrix exactly.
            Assert.Equal("x", Assert.Throws<ArgumentException>(
                () => Rkhs.Embed(x, n + 1, d, landmarks, m, 1.0), "x too short").ParamName, "ParamName");
            Assert.Equal("x", Assert.Throws<ArgumentException>(
                () => Rkhs.Embed(x, n - 1, d, landmarks, m, 1.0), "x too long").ParamName, "ParamName");
            Assert.Equal("landmarks", Assert.Throws<ArgumentException>(
                () => Rkhs.Embed(x, n, d, landmarks, m + 1, 1.0), "landmarks too short").ParamName, "ParamName");

            // Spans must reach the last element helios reads: (rows - 1)·ld + d.
            ArgumentException shortX = Assert.Throws<ArgumentException>(
                () => Rkhs.Embed(new double[(n - 1) * 4 + d - 1], n, d, 4, landmarks, m, d, output, 1.0),
                "x span too short for ldx 4");
            Assert.Equal("x", shortX.ParamName, "ParamName");
            Assert.Contains("ldx", shortX.Message, "message");
            Rkhs.Embed(new double[(n - 1) * 4 + d], n, d, 4, landmarks, m, d, output, 1.0); // exactly long enough
            Assert.Equal("landmarks", Assert.Throws<ArgumentException>(
                () => Rkhs.Embed(x, n, d, d, landmarks.AsSpan(1), m, d, output, 1.0), "landmarks span too short")
                .ParamName, "ParamName");
            Assert.Equal("x", Assert.Throws<ArgumentException>(
                () => Rkhs.Embed((double[])null, n, d, d, landmarks, m, d, output, 1.0), "null array as a span")
                .ParamName, "ParamName");
        }

        // ---- process exit ------------------------------------------------------------------

        // The child process of ProcessExits: run kernels on several native
        // worker threads, then leave by returning from Main or by Environment.Exit.
        private static int ExitProbe(string how)
        {
            float[] output = ParallelMap.Map(RandomFloats(4000, 17), (block, core, coreOut) =>
            {
                Thread.Sleep(1);
                StencilKernel(block, core, coreOut);
            }, halo: 1, blockElems: 100, threads: 4);
            Console.WriteLine("probe ran " + output.Length);
            if (how == "exit")
            {
                Environment.Exit(0);
            }
            return 0;
        }

        // Mono waits at exit for every native thread that ever ran managed
        // code; helios's workers never end, so without the binding's care the
        // process would hang instead of exiting.
        private static void ProcessExits()
        {
            if (Type.GetType("Mono.Runtime") == null)
            {
                return; // .NET never waits for native threads at exit
            }
            string mono = System.Diagnostics.Process.GetCurrentProcess().MainModule.FileName;
            string self = typeof(Program).Assembly.Location;
            foreach (string how in new[] { "return", "exit" })
            {
                var start = new System.Diagnostics.ProcessStartInfo(mono, "\"" + self + "\" --exit-probe " + how)
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                };
                using (var probe = System.Diagnostics.Process.Start(start))
                {
                    // The probe writes one line, so it cannot block on a full pipe.
                    if (!probe.WaitForExit(30000))
                    {
                        probe.Kill();
                        throw new AssertionException("the probe (" + how + ") did not exit within 30 s");
                    }
                    Assert.Equal(0, probe.ExitCode, "probe (" + how + ") exit code");
                    Assert.Contains("probe ran 4000", probe.StandardOutput.ReadToEnd(), "probe (" + how + ") output");
                }
            }
        }
    }
}
