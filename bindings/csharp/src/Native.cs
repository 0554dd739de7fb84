// The P/Invoke declarations of include/helios.h. Everything here is internal:
// the public API (Library, CancelToken, ParallelMap, Rkhs, NystromEngine, VectorIndex, Tokenizer, Model,
// Sampler) wraps it with checked arguments, exceptions and SafeHandles.

using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Helios
{
    /// <summary>
    /// The raw C functions of libhelios, one to one with include/helios.h.
    /// <c>size_t</c> is <see cref="UIntPtr"/>, <c>HeliosStatus</c> is
    /// <see cref="Status"/> (a 32-bit enum), and the f32/f64 runners take
    /// <c>void*</c> arrays so that one generic path serves both element types.
    /// </summary>
    internal static unsafe class Native
    {
        /// <summary>The library name: <c>libhelios.so</c>, <c>libhelios.dylib</c> or <c>helios.dll</c>.</summary>
        private const string Lib = "helios";

        /// <summary><c>HELIOS_AUTO</c> (<c>SIZE_MAX</c>): let helios choose a thread count or block size.</summary>
        internal static readonly UIntPtr Auto =
            new UIntPtr(UIntPtr.Size == 8 ? ulong.MaxValue : uint.MaxValue);

        /// <summary><c>HeliosParallelMapOptions</c>, field for field.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct MapOptions
        {
            internal UIntPtr StructSize;
            internal UIntPtr Halo;
            internal UIntPtr BlockElems;
            internal UIntPtr Threads;
            internal IntPtr Cancel;
        }

        /// <summary><c>HeliosKernelF32</c> and <c>HeliosKernelF64</c> (the element type is erased).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int Kernel(
            void* block, UIntPtr blockLen, UIntPtr coreOffset, UIntPtr coreLen, void* coreOut, IntPtr userData);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr helios_status_name(int status);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr helios_last_error();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr helios_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint helios_abi_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_set_num_threads(UIntPtr n);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern UIntPtr helios_get_num_threads();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_cancel_token_new(out CancelTokenHandle token);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_cancel_token_cancel(IntPtr token);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_cancel_token_is_cancelled(
            IntPtr token, [MarshalAs(UnmanagedType.U1)] out bool cancelled);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_cancel_token_reset(IntPtr token);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void helios_cancel_token_free(IntPtr token);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern MapOptions helios_parallel_map_default_options();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_parallel_map_f32(
            void* input, UIntPtr len, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded,
            ref MapOptions options, Kernel kernel, IntPtr userData);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_parallel_map_f64(
            void* input, UIntPtr len, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded,
            ref MapOptions options, Kernel kernel, IntPtr userData);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_rkhs_embed_f32(
            void* x, UIntPtr n, UIntPtr d, UIntPtr ldx, void* landmarks, UIntPtr m, UIntPtr ldl, double gamma,
            double ridge, UIntPtr threads, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_rkhs_embed_f64(
            void* x, UIntPtr n, UIntPtr d, UIntPtr ldx, void* landmarks, UIntPtr m, UIntPtr ldl, double gamma,
            double ridge, UIntPtr threads, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        /// <summary><c>HeliosNystromOptions</c>, field for field (56 bytes on a 64-bit platform).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct NystromOptionsRaw
        {
            internal UIntPtr StructSize;
            internal double Gamma;
            internal double Ridge;
            internal UIntPtr LandmarkCount;
            internal int Selection;
            internal ulong Seed;
            internal UIntPtr Threads;
        }

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern NystromOptionsRaw helios_nystrom_default_options();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_new(
            ref NystromOptionsRaw options, int dtype, out NystromEngineHandle engine);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_free(IntPtr engine);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_get_options(IntPtr engine, out NystromOptionsRaw options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_set_threads(IntPtr engine, UIntPtr threads);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_set_device(IntPtr engine, IntPtr device);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_on_device(IntPtr engine, int* onDevice);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_info(
            IntPtr engine, int* dtype, UIntPtr* landmarkCount, UIntPtr* dim, int* built);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_build_f32(
            IntPtr engine, void* x, UIntPtr n, UIntPtr d, UIntPtr ldx, void* output, UIntPtr outputCapacity,
            UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_build_f64(
            IntPtr engine, void* x, UIntPtr n, UIntPtr d, UIntPtr ldx, void* output, UIntPtr outputCapacity,
            UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_transform_f32(
            IntPtr engine, void* x, UIntPtr n, UIntPtr d, UIntPtr ldx, void* output, UIntPtr outputCapacity,
            UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_transform_f64(
            IntPtr engine, void* x, UIntPtr n, UIntPtr d, UIntPtr ldx, void* output, UIntPtr outputCapacity,
            UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_update_f32(
            IntPtr engine, void* xNew, UIntPtr nNew, UIntPtr d, UIntPtr ldx, void* phiOld, UIntPtr rowsOld,
            void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_update_f64(
            IntPtr engine, void* xNew, UIntPtr nNew, UIntPtr d, UIntPtr ldx, void* phiOld, UIntPtr rowsOld,
            void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_update_inplace_f32(
            IntPtr engine, void* xNew, UIntPtr nNew, UIntPtr d, UIntPtr ldx, void* buffer, UIntPtr bufferCapacity,
            UIntPtr rowsUsed, UIntPtr* bufferNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_update_inplace_f64(
            IntPtr engine, void* xNew, UIntPtr nNew, UIntPtr d, UIntPtr ldx, void* buffer, UIntPtr bufferCapacity,
            UIntPtr rowsUsed, UIntPtr* bufferNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_landmarks_f32(
            IntPtr engine, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_landmarks_f64(
            IntPtr engine, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_normaliser_f32(
            IntPtr engine, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_normaliser_f64(
            IntPtr engine, void* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_save(IntPtr engine, byte* path, UIntPtr pathLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_load(byte* path, UIntPtr pathLen, out NystromEngineHandle engine);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_to_bytes(
            IntPtr engine, byte* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_nystrom_from_bytes(
            byte* data, UIntPtr len, out NystromEngineHandle engine);

        /// <summary><c>HeliosIndexOptions</c>, field for field (72 bytes on a 64-bit platform).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct IndexOptionsRaw
        {
            internal UIntPtr StructSize;
            internal int Kind;
            internal int Metric;
            internal UIntPtr Dim;
            internal UIntPtr PqM;
            internal uint PqNbits;
            internal UIntPtr TrainIterations;
            internal ulong Seed;
            internal UIntPtr Threads;
        }

        /// <summary><c>HeliosSearchOptions</c>, field for field.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct SearchOptionsRaw
        {
            internal UIntPtr StructSize;
            internal UIntPtr Threads;
        }

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IndexOptionsRaw helios_index_default_options();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern SearchOptionsRaw helios_index_default_search_options();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_new(ref IndexOptionsRaw options, out VectorIndexHandle index);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void helios_index_free(IntPtr index);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_train(IntPtr index, float* x, UIntPtr n, UIntPtr dim);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_add(IntPtr index, float* x, UIntPtr n, UIntPtr dim, ulong* ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_remove(IntPtr index, ulong* ids, UIntPtr n);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_count(IntPtr index, UIntPtr* count);

        // C `bool` is one byte: read it as a byte rather than trusting a bool marshaller.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_is_trained(IntPtr index, byte* trained);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_get_options(IntPtr index, out IndexOptionsRaw options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_set_threads(IntPtr index, UIntPtr threads);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_search(
            IntPtr index, float* queries, UIntPtr nQueries, UIntPtr dim, UIntPtr k, SearchOptionsRaw* options,
            float* distances, UIntPtr distancesCapacity, ulong* ids, UIntPtr idsCapacity, UIntPtr* outNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_reconstruct(
            IntPtr index, ulong id, float* output, UIntPtr outputCapacity);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_save(IntPtr index, byte* path, UIntPtr pathLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_load(byte* path, UIntPtr pathLen, out VectorIndexHandle index);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_to_bytes(
            IntPtr index, byte* output, UIntPtr outputCapacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_index_from_bytes(byte* data, UIntPtr len, out VectorIndexHandle index);

        /// <summary><c>HeliosTokenizerTrainOptions</c>, field for field (80 bytes on a 64-bit platform).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct TokenizerTrainOptionsRaw
        {
            internal UIntPtr StructSize;
            internal UIntPtr VocabSize;
            internal UIntPtr MinFrequency;
            internal IntPtr SpecialTokens;
            internal UIntPtr SpecialTokensCount;
            internal IntPtr UnkToken;
            internal UIntPtr Threads;
            internal IntPtr Cancel;
            internal IntPtr Progress;
            internal IntPtr ProgressUserData;
        }

        /// <summary><c>HeliosTrainProgressFn</c>: non-zero stops the training.</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TrainProgress(UIntPtr done, UIntPtr total, IntPtr userData);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_from_file(
            byte* path, UIntPtr pathLen, out TokenizerHandle tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_from_json(byte* json, UIntPtr len, out TokenizerHandle tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_from_vocab_merges(
            byte* vocab, UIntPtr vocabLen, byte* merges, UIntPtr mergesLen, out TokenizerHandle tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_from_pretrained_dir(
            byte* dir, UIntPtr dirLen, out TokenizerHandle tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void helios_tokenizer_free(IntPtr tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_save(IntPtr tokenizer, byte* path, UIntPtr pathLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_to_json(
            IntPtr tokenizer, byte* output, UIntPtr capacity, UIntPtr* outputNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern TokenizerTrainOptionsRaw helios_tokenizer_default_train_options();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_train_bpe(
            IntPtr* texts, UIntPtr* lengths, UIntPtr count, ref TokenizerTrainOptionsRaw options,
            out TokenizerHandle tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_train_bpe_files(
            IntPtr* paths, UIntPtr* pathLengths, UIntPtr count, ref TokenizerTrainOptionsRaw options,
            out TokenizerHandle tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_train_char(
            IntPtr* texts, UIntPtr* lengths, UIntPtr count, ref TokenizerTrainOptionsRaw options,
            out TokenizerHandle tokenizer);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_encode(
            IntPtr tokenizer, byte* text, UIntPtr len, uint* ids, UIntPtr capacity, UIntPtr* offsets,
            UIntPtr* outCount);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_encode_batch(
            IntPtr tokenizer, IntPtr* texts, UIntPtr* lengths, UIntPtr count, UIntPtr threads, uint* ids,
            UIntPtr capacity, UIntPtr* counts, UIntPtr* outTotal);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_decode(
            IntPtr tokenizer, uint* ids, UIntPtr count, int skipSpecial, byte* output, UIntPtr capacity,
            UIntPtr* outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_vocab_size(IntPtr tokenizer, UIntPtr* output);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_token_to_id(
            IntPtr tokenizer, byte* token, UIntPtr len, uint* outId);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_tokenizer_id_to_token(
            IntPtr tokenizer, uint id, byte* output, UIntPtr capacity, UIntPtr* outLen);

        /// <summary><c>HeliosGptConfig</c>, field for field (64 bytes on a 64-bit platform).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct GptConfigRaw
        {
            internal UIntPtr StructSize;
            internal UIntPtr VocabSize;
            internal UIntPtr NPositions;
            internal UIntPtr NEmbd;
            internal UIntPtr NLayer;
            internal UIntPtr NHead;
            internal UIntPtr NInner;
            internal float LayerNormEpsilon;
        }

        /// <summary><c>HeliosSamplerOptions</c>, field for field (96 bytes on a 64-bit platform).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct SamplerOptionsRaw
        {
            internal UIntPtr StructSize;
            internal float Temperature;
            internal UIntPtr TopK;
            internal float TopP;
            internal float RepetitionPenalty;
            internal ulong Seed;
            internal UIntPtr MaxTokens;
            internal IntPtr StopTokens;
            internal UIntPtr StopTokensCount;
            internal IntPtr StopStrings;
            internal UIntPtr StopStringsCount;
            internal UIntPtr Context;
            internal UIntPtr Threads;
        }

        /// <summary><c>HeliosTokenFn</c>: non-zero stops the generation (<c>HELIOS_STOP_CALLBACK</c>).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TokenFn(uint token, IntPtr userData);

        /// <summary><c>HeliosTextFn</c>: <c>len</c> bytes of whole UTF-8 characters; non-zero stops.</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TextFn(byte* piece, UIntPtr len, IntPtr userData);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_device_count(out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_device_open(UIntPtr ordinal, out DeviceHandle device);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_device_name(IntPtr device, byte* output, UIntPtr capacity, UIntPtr* outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_device_memory(IntPtr device, UIntPtr* outFree, UIntPtr* outTotal);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_device_compute_capability(IntPtr device, out uint major, out uint minor);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void helios_device_free(IntPtr device);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_rkhs_embed_device_f32(
            IntPtr device, IntPtr x, UIntPtr n, UIntPtr d, UIntPtr ldx, IntPtr landmarks, UIntPtr m, UIntPtr ldl,
            double gamma, double ridge, IntPtr output, UIntPtr outputCapacity, IntPtr stream);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern GptConfigRaw helios_model_default_config();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_model_random(ref GptConfigRaw config, ulong seed, out ModelHandle model);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_model_load(byte* dir, UIntPtr dirLen, out ModelHandle model);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_model_save(IntPtr model, byte* dir, UIntPtr dirLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void helios_model_free(IntPtr model);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_model_get_config(IntPtr model, out GptConfigRaw config);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_model_forward(
            IntPtr model, uint* ids, UIntPtr count, UIntPtr threads, float* logits, UIntPtr capacity,
            UIntPtr* outNeeded);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern SamplerOptionsRaw helios_sampler_default_options();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_sampler_new(
            IntPtr model, ref SamplerOptionsRaw options, out SamplerHandle sampler);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_sampler_free(IntPtr sampler);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_sampler_reset(IntPtr sampler);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_sampler_context_len(IntPtr sampler, UIntPtr* output);

        // on_token is a function pointer (IntPtr) from a delegate kept alive by the caller.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_sampler_generate(
            IntPtr sampler, uint* prompt, UIntPtr promptLen, uint* outTokens, UIntPtr capacity, IntPtr onToken,
            IntPtr userData, IntPtr cancel, UIntPtr* outCount, int* outStopReason);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern Status helios_sampler_generate_text(
            IntPtr sampler, IntPtr tokenizer, byte* prompt, UIntPtr promptLen, IntPtr onText, IntPtr userData,
            IntPtr cancel, UIntPtr* outLen, int* outStopReason);

        /// <summary>
        /// Throw a <see cref="HeliosException"/> for a failed status. Call it
        /// directly after the native call, on the same thread, before any
        /// other helios call: it reads the thread's <c>helios_last_error()</c>.
        /// </summary>
        internal static void Check(Status status)
        {
            if (status != Status.Ok)
            {
                throw new HeliosException(status, FromUtf8(helios_last_error()));
            }
        }

        /// <summary>A copy of a NUL-terminated UTF-8 string owned by helios ("" for NULL).</summary>
        internal static string FromUtf8(IntPtr text)
        {
            if (text == IntPtr.Zero)
            {
                return string.Empty;
            }
            byte* bytes = (byte*)text;
            int length = 0;
            while (bytes[length] != 0)
            {
                length++;
            }
            return Encoding.UTF8.GetString(bytes, length);
        }

        /// <summary>
        /// A non-negative <see cref="int"/> as a <c>size_t</c>; a negative one
        /// cannot be expressed in C and gets <see cref="ArgumentOutOfRangeException"/>.
        /// </summary>
        internal static UIntPtr ToSize(int value, string paramName)
        {
            if (value < 0)
            {
                throw new ArgumentOutOfRangeException(paramName, value, "must not be negative");
            }
            return new UIntPtr((uint)value);
        }
    }
}
