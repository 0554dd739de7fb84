using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Helios
{
    /// <summary>
    /// A kernel for <see cref="ParallelMap"/>: read <paramref name="block"/> (one
    /// block's core plus up to <c>halo</c> neighbours on each side, fewer at
    /// the ends of the array) and write one result per core element to
    /// <paramref name="coreOut"/>; the core is
    /// <c>block.Slice(coreOffset, coreOut.Length)</c>. Both spans are valid
    /// only during the call. An exception stops the run and is rethrown to the
    /// caller of <see cref="ParallelMap"/>.
    /// Thread safety: reentrant (safe to call from any number of threads at once):
    /// helios calls it from several native worker threads at once, so it must
    /// only read shared state.
    /// </summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    public delegate void Kernel<T>(ReadOnlySpan<T> block, int coreOffset, Span<T> coreOut);

    /// <summary>
    /// The deterministic block-parallel runner (<c>helios_parallel_map_f32</c>
    /// and <c>_f64</c>). The input is cut into blocks of <c>blockElems</c>
    /// elements whatever the thread count, each block is extended by
    /// <c>halo</c> neighbours on each side, the kernel computes each block's
    /// core, and the cores land in the output in index order. With a halo at
    /// least the kernel's radius, the output is bit for bit what the kernel
    /// gives on the whole array at once, for any thread count and block size.
    /// <para>Arguments and errors, the same for every overload:</para>
    /// <list type="bullet">
    /// <item><c>halo</c>: neighbours on each side (default 0); must not exceed the input length.</item>
    /// <item><c>blockElems</c>: core elements per block; null (the default) lets helios choose a size that depends only on the length and the halo.</item>
    /// <item><c>threads</c>: workers (1 = the calling thread only, nothing spawned); null (the default) for <see cref="Library.NumThreads"/>. Workers run on helios's process pool, which has max(<see cref="Library.NumThreads"/>, CPU count) threads; more workers than that share them.</item>
    /// <item><c>cancel</c>: an optional token checked before every block.</item>
    /// <item>What only .NET can get wrong is refused before any native call:
    /// a null kernel (<see cref="ArgumentNullException"/>), a negative
    /// <c>halo</c>, <c>blockElems</c> or <c>threads</c>
    /// (<see cref="ArgumentOutOfRangeException"/>), a disposed token
    /// (<see cref="ObjectDisposedException"/>).</item>
    /// <item>Every other value is passed to helios unchanged and its refusal
    /// comes back as a <see cref="HeliosException"/> with helios's status and
    /// message: <see cref="Status.InvalidArgument"/> for an empty input, a halo
    /// longer than the input, <c>blockElems</c> 0, <c>threads</c> 0 or above
    /// 1024, or an output overlapping the input;
    /// <see cref="Status.BufferTooSmall"/> for an output shorter than the input;
    /// <see cref="Status.Cancelled"/> when the token was raised.</item>
    /// <item>An exception thrown by the kernel stops the run (blocks after the
    /// failing one may be skipped) and is rethrown as it is, with its type and
    /// stack trace; when several blocks throw, the exception of the lowest
    /// block, so that it is the same for every thread count.</item>
    /// <item>On any error the output is partly written.</item>
    /// </list>
    /// Thread safety: reentrant (safe to call from any number of threads at once).
    /// The kernel itself runs on several threads at once.
    /// </summary>
    public static class ParallelMap
    {
        /// <summary>
        /// Map <paramref name="input"/> with <paramref name="kernel"/> into a new array
        /// (see <see cref="ParallelMap"/> for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static float[] Map(
            ReadOnlySpan<float> input, Kernel<float> kernel, int halo = 0, int? blockElems = null,
            int? threads = null, CancelToken cancel = null)
        {
            return MapToArray(input, kernel, halo, blockElems, threads, cancel);
        }

        /// <summary>
        /// Map <paramref name="input"/> with <paramref name="kernel"/> into a new array
        /// (see <see cref="ParallelMap"/> for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static double[] Map(
            ReadOnlySpan<double> input, Kernel<double> kernel, int halo = 0, int? blockElems = null,
            int? threads = null, CancelToken cancel = null)
        {
            return MapToArray(input, kernel, halo, blockElems, threads, cancel);
        }

        /// <summary>
        /// Map <paramref name="input"/> with <paramref name="kernel"/> into
        /// <c>output[0 .. input.Length)</c>; <paramref name="output"/> must be at
        /// least as long as the input and must not overlap it; elements past
        /// <c>input.Length</c> are left as they are (see <see cref="ParallelMap"/>
        /// for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static void Map(
            ReadOnlySpan<float> input, Span<float> output, Kernel<float> kernel, int halo = 0,
            int? blockElems = null, int? threads = null, CancelToken cancel = null)
        {
            Run(input, output, kernel, halo, blockElems, threads, cancel);
        }

        /// <summary>
        /// Map <paramref name="input"/> with <paramref name="kernel"/> into
        /// <c>output[0 .. input.Length)</c>; <paramref name="output"/> must be at
        /// least as long as the input and must not overlap it; elements past
        /// <c>input.Length</c> are left as they are (see <see cref="ParallelMap"/>
        /// for the arguments and errors).
        /// Thread safety: reentrant (safe to call from any number of threads at once).
        /// </summary>
        public static void Map(
            ReadOnlySpan<double> input, Span<double> output, Kernel<double> kernel, int halo = 0,
            int? blockElems = null, int? threads = null, CancelToken cancel = null)
        {
            Run(input, output, kernel, halo, blockElems, threads, cancel);
        }

        private static T[] MapToArray<T>(
            ReadOnlySpan<T> input, Kernel<T> kernel, int halo, int? blockElems, int? threads, CancelToken cancel)
            where T : struct
        {
            var output = new T[input.Length];
            Run<T>(input, output, kernel, halo, blockElems, threads, cancel);
            return output;
        }

        // The one path behind every overload; T is float or double.
        private static unsafe void Run<T>(
            ReadOnlySpan<T> input, Span<T> output, Kernel<T> kernel, int halo, int? blockElems, int? threads,
            CancelToken cancel)
            where T : struct
        {
            if (kernel == null)
            {
                throw new ArgumentNullException(nameof(kernel));
            }
            UIntPtr haloSize = Native.ToSize(halo, nameof(halo));
            UIntPtr blockSize = blockElems.HasValue ? Native.ToSize(blockElems.Value, nameof(blockElems)) : Native.Auto;
            UIntPtr threadCount = threads.HasValue ? Native.ToSize(threads.Value, nameof(threads)) : Native.Auto;
            Library.EnsureCompatible();

            Native.MapOptions options = Native.helios_parallel_map_default_options();
            options.Halo = haloSize;
            options.BlockElems = blockSize;
            options.Threads = threadCount;

            // An empty span pins to NULL, which helios would report as a NULL
            // argument; stand-ins let it report what is wrong: the empty length.
            double* emptyStandIns = stackalloc double[2];
            var call = new KernelCall<T>(kernel);
            GCHandle callHandle = GCHandle.Alloc(call);
            bool tokenBorrowed = false;
            try
            {
                if (cancel != null)
                {
                    options.Cancel = cancel.AddRef();
                    tokenBorrowed = true;
                }
                Status status;
                fixed (byte* inputBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(input)))
                fixed (byte* outputBytes = &MemoryMarshal.GetReference(MemoryMarshal.AsBytes(output)))
                {
                    void* inputPointer = inputBytes != null ? inputBytes : (void*)emptyStandIns;
                    void* outputPointer = outputBytes != null ? outputBytes : (void*)(emptyStandIns + 1);
                    call.InputStart = (byte*)inputPointer;
                    var length = new UIntPtr((uint)input.Length);
                    var capacity = new UIntPtr((uint)output.Length);
                    IntPtr userData = GCHandle.ToIntPtr(callHandle);
                    if (typeof(T) == typeof(float))
                    {
                        status = Native.helios_parallel_map_f32(
                            inputPointer, length, outputPointer, capacity, null, ref options, KernelCall.Trampoline,
                            userData);
                    }
                    else if (typeof(T) == typeof(double))
                    {
                        status = Native.helios_parallel_map_f64(
                            inputPointer, length, outputPointer, capacity, null, ref options, KernelCall.Trampoline,
                            userData);
                    }
                    else
                    {
                        throw new NotSupportedException("helios maps float and double arrays only");
                    }
                }
                // The kernel's own exception explains the stop better than
                // HELIOS_ERR_CANCELLED; otherwise read this thread's message now,
                // before the token is released (its last release is a helios call).
                call.RethrowFailure();
                Native.Check(status);
            }
            finally
            {
                if (tokenBorrowed)
                {
                    cancel.Release();
                }
                callHandle.Free();
                GC.KeepAlive(call);
            }
        }
    }

    /// <summary>
    /// One <see cref="ParallelMap"/> call as seen from native worker threads:
    /// the native callback (<see cref="Trampoline"/>, shared by float and
    /// double and alive for the whole process) finds it through the
    /// <c>user_data</c> GCHandle, runs the managed kernel, and turns any
    /// exception into a non-zero return, since an exception must never unwind
    /// into native frames.
    /// </summary>
    internal abstract unsafe class KernelCall
    {
        /// <summary>The native kernel of every call; a static field, so never collected.</summary>
        internal static readonly Native.Kernel Trampoline = Dispatch;

        private readonly object _lock = new object();
        private readonly Thread _caller = Thread.CurrentThread;
        private Exception _failure;
        private long _failureIndex = long.MaxValue;

        /// <summary>The address of input element 0, to turn a block pointer into an array index.</summary>
        internal byte* InputStart;

        /// <summary>Run the managed kernel on one block; exceptions propagate to <see cref="Dispatch"/>.</summary>
        protected abstract void Invoke(void* block, int blockLength, int coreOffset, int coreLength, void* coreOut);

        /// <summary>The element size in bytes.</summary>
        protected abstract int ElementSize { get; }

        /// <summary>Rethrow the exception of the lowest failing block, if any, with its stack trace.</summary>
        internal void RethrowFailure()
        {
            Exception failure;
            lock (_lock)
            {
                failure = _failure;
            }
            if (failure != null)
            {
                ExceptionDispatchInfo.Capture(failure).Throw();
            }
        }

        private void Record(Exception exception, void* block, UIntPtr coreOffset)
        {
            long index = ((byte*)block - InputStart) / ElementSize + (long)coreOffset.ToUInt64();
            lock (_lock)
            {
                if (index < _failureIndex)
                {
                    _failureIndex = index;
                    _failure = exception;
                }
            }
        }

        private static int Dispatch(
            void* block, UIntPtr blockLen, UIntPtr coreOffset, UIntPtr coreLen, void* coreOut, IntPtr userData)
        {
            KernelCall call = null;
            try
            {
                call = (KernelCall)GCHandle.FromIntPtr(userData).Target;
                WorkerThreads.OnKernelCall(call._caller);
                call.Invoke(
                    block, checked((int)blockLen.ToUInt64()), checked((int)coreOffset.ToUInt64()),
                    checked((int)coreLen.ToUInt64()), coreOut);
                return 0;
            }
            catch (Exception exception)
            {
                try
                {
                    call?.Record(exception, block, coreOffset);
                }
                catch
                {
                    // Nothing may escape into native code; the non-zero return
                    // still stops the run (as HELIOS_ERR_CANCELLED).
                }
                return 1;
            }
        }
    }

    /// <summary>A <see cref="KernelCall"/> for elements of type <typeparamref name="T"/>.</summary>
    internal sealed unsafe class KernelCall<T> : KernelCall
    {
        private static readonly int s_elementSize = Marshal.SizeOf<T>();
        private readonly Kernel<T> _kernel;

        internal KernelCall(Kernel<T> kernel)
        {
            _kernel = kernel;
        }

        protected override int ElementSize => s_elementSize;

        protected override void Invoke(void* block, int blockLength, int coreOffset, int coreLength, void* coreOut)
        {
            _kernel(new ReadOnlySpan<T>(block, blockLength), coreOffset, new Span<T>(coreOut, coreLength));
        }
    }
}
