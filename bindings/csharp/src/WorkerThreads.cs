using System;
using System.Reflection;
using System.Threading;

namespace Helios
{
    /// <summary>
    /// What a managed runtime needs to know about helios's native worker
    /// threads, which run kernels and never end.
    /// <para>
    /// The runtime attaches a native thread on its first call into managed
    /// code. On Mono, the thread then stays attached for the rest of its life,
    /// and at exit Mono waits for every attached thread (after trying to abort
    /// it): a helios worker, parked in native code, never returns, so the
    /// process would hang once Main returns, and in <c>Environment.Exit</c>.
    /// Mono's own service threads avoid that with its "don't manage" thread
    /// flag (don't wait for or abort this thread); this class sets the same
    /// flag on each worker thread the first time it runs a kernel. The flag is
    /// a field of Mono's private <c>System.Threading.InternalThread</c>, so it
    /// is reached by reflection and skipped silently where it does not exist
    /// (on .NET, which does not wait for such threads, nothing is done).
    /// </para>
    /// </summary>
    internal static class WorkerThreads
    {
        // MONO_THREAD_FLAG_DONT_MANAGE in mono/metadata/object-internals.h.
        private const long MonoDontManage = 1;

        private static readonly FieldInfo s_internalThread;
        private static readonly FieldInfo s_flags;

        // Set once this thread was seen running a kernel for another thread.
        [ThreadStatic]
        private static bool t_isKnownWorker;

        static WorkerThreads()
        {
            if (Type.GetType("Mono.Runtime") == null)
            {
                return;
            }
            const BindingFlags instance = BindingFlags.Instance | BindingFlags.NonPublic;
            FieldInfo internalThread = typeof(Thread).GetField("internal_thread", instance);
            FieldInfo flags = internalThread?.FieldType.GetField("flags", instance);
            if (flags != null && flags.FieldType == typeof(IntPtr))
            {
                s_internalThread = internalThread;
                s_flags = flags;
            }
        }

        /// <summary>
        /// Called before every kernel call; <paramref name="caller"/> is the
        /// thread that called <see cref="ParallelMap"/>. Cheap after the first
        /// call on each thread.
        /// </summary>
        internal static void OnKernelCall(Thread caller)
        {
            if (t_isKnownWorker)
            {
                return;
            }
            Thread current = Thread.CurrentThread;
            if (current == caller)
            {
                // threads = 1: the caller's own thread, which is the caller's business.
                return;
            }
            t_isKnownWorker = true;
            if (s_flags == null)
            {
                return;
            }
            try
            {
                object internalThread = s_internalThread.GetValue(current);
                long flags = ((IntPtr)s_flags.GetValue(internalThread)).ToInt64();
                s_flags.SetValue(internalThread, new IntPtr(flags | MonoDontManage));
            }
            catch (Exception)
            {
                // A Mono whose internals differ: the kernel must run regardless;
                // the only cost is the wait at exit described above.
            }
        }
    }
}
