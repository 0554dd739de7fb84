// Tests of Model and Sampler against references computed here: greedy
// decoding checked against the argmax of Model.Forward over the growing
// context, generation checked against itself across seeds, thread counts,
// threads and continuations, text checked against Tokenizer.Decode of the
// same tokens, plus the sharing, cancellation and error contracts of
// include/helios.h. The models are tiny (random weights), so the whole file
// runs in a few seconds.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace Helios.Tests
{
    internal static partial class Program
    {
        private static void RunModelTests(Harness harness)
        {
            harness.Run("Model: StopReason mirrors HELIOS_STOP_*; struct sizes match helios's struct_size",
                ModelMirrorsHeader);
            harness.Run("Model: GptConfig and SamplerOptions defaults; GPT-2 small has 124 439 808 weights",
                ModelDefaults);
            harness.Run("Model: Random with one seed gives the same logits twice, another seed others",
                ModelRandomSeeded);
            harness.Run("Model/Sampler: memory pressure added with the native memory, removed when released",
                ModelMemoryPressure);
            harness.Run("Model: Forward(ids[..t+1]) last row == Forward(ids) row t, bit for bit, any thread count",
                ModelPrefixInvariance);
            harness.Run("Model: Forward from 4 threads on one model matches sequential calls", ModelConcurrentForward);
            harness.Run("Model: Save/Load round trip gives identical logits and config", ModelSaveLoad);
            harness.Run("Sampler: greedy tokens == argmax of Forward over the growing context", SamplerGreedyIsArgmax);
            harness.Run("Sampler: a seed gives the same tokens twice, on any thread count and after Reset",
                SamplerSeeded);
            harness.Run("Sampler: a continued generation equals one longer generation; ContextLength",
                SamplerContinues);
            harness.Run("Sampler: stop tokens, a full context and MaxTokens end a generation", SamplerStops);
            harness.Run("Sampler: 4 threads with a sampler each on one model match sequential runs",
                SamplerConcurrentRequests);
            harness.Run("Sampler: two threads on one sampler: Busy for the second, the sampler intact",
                SamplerBusy);
            harness.Run("Sampler: disposing the Model before its Sampler is safe", SamplerOutlivesModel);
            harness.Run("Sampler: a CancellationToken stops generation with Cancelled and the tokens so far",
                SamplerCancellation);
            harness.Run("Sampler: a callback returning false stops with StopReason.Callback", SamplerCallbackStops);
            harness.Run("Sampler: a callback's exception is rethrown as it is; the sampler still works",
                SamplerCallbackThrows);
            harness.Run("Sampler: GenerateText == Decode(generated ids); pieces and StreamText concatenate to it",
                SamplerGenerateText);
            harness.Run("Sampler: stop strings cut the text before them", SamplerStopStrings);
            harness.Run("Sampler: StreamText left early or cancelled frees the sampler", SamplerStreamStops);
            harness.Run("Model/Sampler: helios errors come back as HeliosException", ModelHeliosErrors);
            harness.Run("Model/Sampler: .NET-only mistakes get .NET argument exceptions", ModelArgumentErrors);
            harness.Run("Model/Sampler: ObjectDisposedException after Dispose; Dispose twice is fine",
                ModelDisposed);
        }

        // ---- helpers ---------------------------------------------------------------------------

        // A tiny GPT-2: 2 layers of width 32, 4 heads, 64 positions.
        private static GptConfig TinyConfig(int vocab = 97)
        {
            return new GptConfig
            {
                VocabSize = vocab,
                NPositions = 64,
                NEmbd = 32,
                NLayer = 2,
                NHead = 4,
                NInner = 128,
                LayerNormEpsilon = 1e-5f,
            };
        }

        private static uint[] SomeIds(int count, int vocab, int seed)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, count).Select(_ => (uint)random.Next(vocab)).ToArray();
        }

        private static float[] Row(float[] logits, int row, int vocab)
        {
            var result = new float[vocab];
            Array.Copy(logits, (long)row * vocab, result, 0, vocab);
            return result;
        }

        // The lowest index of the largest value (helios's greedy rule: ties to the lower id).
        private static uint ArgMax(float[] values)
        {
            int best = 0;
            for (int i = 1; i < values.Length; i++)
            {
                if (values[i] > values[best])
                {
                    best = i;
                }
            }
            return (uint)best;
        }

        private static void SameIds(uint[] expected, uint[] actual, string what)
        {
            Assert.True(expected.SequenceEqual(actual), what + ": expected [" + string.Join(", ", expected)
                + "] but got [" + string.Join(", ", actual) + "]");
        }

        private static GenerationException GenerationError(Status status, string messagePart, Action action,
            string what)
        {
            GenerationException error = Assert.Throws<GenerationException>(action, what);
            Assert.Equal(status, error.Status, what + " (status)");
            Assert.True(error.Message.Length > 0, what + ": the message is empty");
            Assert.Contains(messagePart, error.Message, what + " (message)");
            return error;
        }

        private static string ModelTempDir()
        {
            string dir = Path.Combine(Path.GetTempPath(), "helios-cs-model-" + Guid.NewGuid().ToString("N"));
            return dir;
        }

        private static readonly string[] s_modelCorpus =
        {
            "the cat sat on the mat and the dog sat on the log",
            "a model generates text one token at a time, and the sampler draws each token",
            "the quick brown fox jumps over the lazy dog while the cat watches the dog",
            "tokens become text, text becomes tokens; the tokenizer merges frequent pairs",
            "café, naïve and 中文 are bytes like any other",
        };

        // ---- tests -----------------------------------------------------------------------------

        private static void ModelMirrorsHeader()
        {
            string header = Header();
            var fromHeader = new Dictionary<string, int>();
            foreach (Match m in Regex.Matches(header, "#define HELIOS_STOP_(\\w+) (\\d+)"))
            {
                fromHeader.Add(m.Groups[1].Value, int.Parse(m.Groups[2].Value));
            }
            var values = (StopReason[])Enum.GetValues(typeof(StopReason));
            Assert.Equal(fromHeader.Count, values.Length, "number of stop reasons");
            var names = new Dictionary<StopReason, string>
            {
                { StopReason.MaxTokens, "MAX_TOKENS" },
                { StopReason.StopToken, "TOKEN" },
                { StopReason.StopString, "STRING" },
                { StopReason.ContextFull, "CONTEXT_FULL" },
                { StopReason.Callback, "CALLBACK" },
            };
            foreach (StopReason reason in values)
            {
                Assert.True(fromHeader.ContainsKey(names[reason]), "the header has no HELIOS_STOP_" + names[reason]);
                Assert.Equal(fromHeader[names[reason]], (int)reason, "value of " + reason);
            }
            Assert.Equal((long)Native.helios_model_default_config().StructSize.ToUInt64(),
                (long)Marshal.SizeOf(typeof(Native.GptConfigRaw)), "sizeof(HeliosGptConfig)");
            Assert.Equal((long)Native.helios_sampler_default_options().StructSize.ToUInt64(),
                (long)Marshal.SizeOf(typeof(Native.SamplerOptionsRaw)), "sizeof(HeliosSamplerOptions)");
            if (IntPtr.Size == 8)
            {
                Assert.Equal(64, Marshal.SizeOf(typeof(Native.GptConfigRaw)), "HeliosGptConfig on 64-bit");
                Assert.Equal(96, Marshal.SizeOf(typeof(Native.SamplerOptionsRaw)), "HeliosSamplerOptions on 64-bit");
            }
        }

        private static void ModelDefaults()
        {
            GptConfig small = GptConfig.Gpt2Small();
            Assert.Equal(50257, small.VocabSize, "VocabSize");
            Assert.Equal(1024, small.NPositions, "NPositions");
            Assert.Equal(768, small.NEmbd, "NEmbd");
            Assert.Equal(12, small.NLayer, "NLayer");
            Assert.Equal(12, small.NHead, "NHead");
            Assert.Equal(3072, small.NInner, "NInner");
            Assert.Equal(1e-5f, small.LayerNormEpsilon, "LayerNormEpsilon");
            // Hugging Face's GPT2LMHeadModel("gpt2").num_parameters() (tied LM head).
            Assert.Equal(124439808L, small.ParameterCount, "GPT-2 small parameter count");
            Assert.True(small.Equals(new GptConfig()), "new GptConfig() is GPT-2 small");
            Assert.Contains("vocab 50257", small.ToString(), "ToString");

            // The tiny config counted by hand: 97·32 + 64·32 + 2·(64 + 3168 + 1056 + 64 + 4224 + 4128) + 64.
            Assert.Equal(97L * 32 + 64 * 32 + 2 * (64 + 3168 + 1056 + 64 + 4224 + 4128) + 64,
                TinyConfig().ParameterCount, "tiny parameter count");

            var options = new SamplerOptions();
            Assert.Equal(1f, options.Temperature, "Temperature");
            Assert.Equal(0, options.TopK, "TopK");
            Assert.Equal(1f, options.TopP, "TopP");
            Assert.Equal(1f, options.RepetitionPenalty, "RepetitionPenalty");
            Assert.Equal(0UL, options.Seed, "Seed");
            Assert.Equal(256, options.MaxTokens, "MaxTokens");
            Assert.Equal(0, options.Context, "Context");
            Assert.Equal(null, options.Threads, "Threads");
            Assert.Equal(0, options.StopTokens.Count, "StopTokens");
            Assert.Equal(0, options.StopStrings.Count, "StopStrings");

            // GPT-2 small's KV cache: 2 x 12 layers x 1024 positions x 768 floats = 72 MiB.
            Assert.Equal(2L * 12 * 1024 * 768 * 4, Sampler.KvCacheBytes(small), "KvCacheBytes(GPT-2 small)");
            Assert.Equal(2L * 12 * 100 * 768 * 4, Sampler.KvCacheBytes(small, 100), "KvCacheBytes(context 100)");
        }

        private static void ModelRandomSeeded()
        {
            GptConfig config = TinyConfig();
            uint[] ids = SomeIds(10, config.VocabSize, 1);
            using (Model a = Model.Random(config, seed: 42))
            using (Model b = Model.Random(config, seed: 42))
            using (Model c = Model.Random(config, seed: 43))
            {
                Assert.True(config.Equals(a.Config), "Config round trip: " + a.Config);
                Assert.Equal(config.VocabSize, a.VocabSize, "VocabSize");
                Assert.Equal(config.ParameterCount, a.ParameterCount, "ParameterCount");
                Assert.Equal(config.ParameterCount * 4, a.SizeInBytes, "SizeInBytes");
                float[] la = a.Forward(ids);
                float[] lb = b.Forward(ids);
                Assert.Equal(ids.Length * config.VocabSize, la.Length, "logits length");
                Assert.True(la.All(x => !float.IsNaN(x) && !float.IsInfinity(x)), "finite logits");
                Assert.BitIdentical(la, lb, "same seed");
                float[] lc = c.Forward(ids);
                Assert.True(!la.SequenceEqual(lc), "another seed gives other logits");
            }
        }

        // The bytes a handle told the GC about (its private _pressure field).
        private static long Pressure(SafeHandle handle)
        {
            var field = handle.GetType().GetField("_pressure",
                System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);
            Assert.True(field != null, handle.GetType().Name + " has no _pressure field");
            return (long)field.GetValue(handle);
        }

        private static void ModelMemoryPressure()
        {
            GptConfig config = TinyConfig();
            var model = Model.Random(config, seed: 1);
            ModelHandle modelHandle = model.Handle;
            Assert.Equal(config.ParameterCount * 4, Pressure(modelHandle), "the model's pressure");
            var sampler = new Sampler(model, new SamplerOptions { Context = 10 });
            var samplerHandle = (SamplerHandle)typeof(Sampler).GetField("_handle",
                System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic).GetValue(sampler);
            Assert.Equal(Sampler.KvCacheBytes(config, 10), Pressure(samplerHandle), "the sampler's pressure");
            Assert.Equal(2L * 2 * 10 * 32 * 4, Pressure(samplerHandle), "the sampler's pressure by hand");
            // The sampler holds the model: its weights stay until both are released.
            model.Dispose();
            Assert.Equal(config.ParameterCount * 4, Pressure(modelHandle), "the model's pressure while its sampler lives");
            Assert.Equal(1, sampler.Generate(new uint[] { 1 }, token => false).Length, "the sampler works");
            sampler.Dispose();
            Assert.Equal(0L, Pressure(samplerHandle), "the sampler's pressure after Dispose");
            Assert.Equal(0L, Pressure(modelHandle), "the model's pressure after its last sampler");
            Assert.True(modelHandle.IsClosed && samplerHandle.IsClosed, "both handles released");
        }

        private static void ModelPrefixInvariance()
        {
            GptConfig config = TinyConfig();
            int vocab = config.VocabSize;
            uint[] ids = SomeIds(24, vocab, 2);
            using (Model model = Model.Random(config, seed: 5))
            {
                float[] full = model.Forward(ids, threads: 1);
                for (int t = 0; t < ids.Length; t++)
                {
                    float[] prefix = model.Forward(new ReadOnlySpan<uint>(ids, 0, t + 1), threads: 1);
                    Assert.BitIdentical(Row(full, t, vocab), Row(prefix, t, vocab), "row " + t);
                    if (t > 0)
                    {
                        // The earlier rows of the prefix are the full forward's rows too.
                        Assert.BitIdentical(Row(full, t - 1, vocab), Row(prefix, t - 1, vocab), "row " + (t - 1)
                            + " of the prefix of " + (t + 1));
                    }
                }
                foreach (int? threads in new int?[] { 2, 3, 4, null })
                {
                    Assert.BitIdentical(full, model.Forward(ids, threads), "threads " + threads);
                }
                // The Span overload writes the same bits and leaves the rest alone.
                var buffer = new float[full.Length + 5];
                for (int i = full.Length; i < buffer.Length; i++)
                {
                    buffer[i] = -7f;
                }
                model.Forward(ids, buffer.AsSpan(), threads: 2);
                Assert.BitIdentical(full, buffer.Take(full.Length).ToArray(), "Span overload");
                Assert.True(buffer.Skip(full.Length).All(x => x == -7f), "Span overload wrote past its rows");
            }
        }

        private static void ModelConcurrentForward()
        {
            GptConfig config = TinyConfig();
            using (Model model = Model.Random(config, seed: 6))
            {
                uint[][] requests = Enumerable.Range(0, 8).Select(i => SomeIds(5 + 3 * i, config.VocabSize, 100 + i))
                    .ToArray();
                float[][] sequential = requests.Select(ids => model.Forward(ids)).ToArray();
                var concurrent = new float[requests.Length][];
                using (var start = new Barrier(4))
                {
                    var threads = Enumerable.Range(0, 4).Select(w => new Thread(() =>
                    {
                        start.SignalAndWait();
                        for (int round = 0; round < 3; round++)
                        {
                            for (int i = w; i < requests.Length; i += 4)
                            {
                                concurrent[i] = model.Forward(requests[i], threads: 1 + (i % 2));
                            }
                        }
                    })).ToList();
                    threads.ForEach(t => t.Start());
                    threads.ForEach(t => t.Join());
                }
                for (int i = 0; i < requests.Length; i++)
                {
                    Assert.BitIdentical(sequential[i], concurrent[i], "request " + i);
                }
            }
        }

        private static void ModelSaveLoad()
        {
            GptConfig config = TinyConfig();
            config.LayerNormEpsilon = 1e-6f;
            uint[] ids = SomeIds(12, config.VocabSize, 3);
            string dir = ModelTempDir();
            try
            {
                float[] expected;
                using (Model model = Model.Random(config, seed: 11))
                {
                    expected = model.Forward(ids);
                    model.Save(dir);
                }
                Assert.True(File.Exists(Path.Combine(dir, "config.json")), "config.json written");
                Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")), "model.safetensors written");
                Assert.Contains("gpt2", File.ReadAllText(Path.Combine(dir, "config.json")), "config.json model_type");
                using (Model loaded = Model.Load(dir))
                {
                    Assert.True(config.Equals(loaded.Config), "loaded config: " + loaded.Config);
                    Assert.BitIdentical(expected, loaded.Forward(ids), "loaded logits");
                    // Saving the loaded model again (over the same files) round-trips too.
                    loaded.Save(dir);
                }
                using (Model again = Model.Load(dir))
                {
                    Assert.BitIdentical(expected, again.Forward(ids), "logits after a second save");
                }
            }
            finally
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, true);
                }
            }
        }

        private static void SamplerGreedyIsArgmax()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(5, config.VocabSize, 4);
            using (Model model = Model.Random(config, seed: 8))
            using (var sampler = new Sampler(model, new SamplerOptions { Temperature = 0, MaxTokens = 20, Seed = 99 }))
            {
                var seen = new List<uint>();
                uint[] tokens = sampler.Generate(prompt, token =>
                {
                    seen.Add(token);
                    return true;
                });
                Assert.Equal(20, tokens.Length, "tokens");
                Assert.Equal(StopReason.MaxTokens, sampler.LastStopReason, "LastStopReason");
                SameIds(tokens, seen.ToArray(), "tokens seen by the callback");
                var context = new List<uint>(prompt);
                for (int i = 0; i < tokens.Length; i++)
                {
                    float[] logits = model.Forward(context.ToArray());
                    uint expected = ArgMax(Row(logits, context.Count - 1, config.VocabSize));
                    Assert.Equal(expected, tokens[i], "greedy token " + i);
                    context.Add(expected);
                }
                // Top-k 1 at any temperature is greedy too.
                using (var topOne = new Sampler(model, new SamplerOptions { TopK = 1, MaxTokens = 20, Seed = 3 }))
                {
                    SameIds(tokens, topOne.Generate(prompt), "top-k 1");
                }
            }
        }

        private static void SamplerSeeded()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(4, config.VocabSize, 5);
            using (Model model = Model.Random(config, seed: 9))
            {
                Func<ulong, int?, uint[]> run = (seed, threads) =>
                {
                    using (var sampler = new Sampler(model, new SamplerOptions
                    {
                        Temperature = 1.5f, TopP = 0.95f, Seed = seed, MaxTokens = 24, Threads = threads,
                    }))
                    {
                        return sampler.Generate(prompt);
                    }
                };
                uint[] first = run(7, null);
                Assert.Equal(24, first.Length, "tokens");
                SameIds(first, run(7, null), "the same seed again");
                SameIds(first, run(7, 1), "1 thread");
                SameIds(first, run(7, 3), "3 threads");
                Assert.True(!first.SequenceEqual(run(8, null)), "another seed draws other tokens");
                using (var sampler = new Sampler(model, new SamplerOptions
                {
                    Temperature = 1.5f, TopP = 0.95f, Seed = 7, MaxTokens = 24,
                }))
                {
                    SameIds(first, sampler.Generate(prompt), "a new sampler");
                    sampler.Reset();
                    Assert.Equal(0, sampler.ContextLength, "ContextLength after Reset");
                    Assert.Equal(null, sampler.LastStopReason, "LastStopReason after Reset");
                    SameIds(first, sampler.Generate(prompt), "after Reset");
                }
            }
        }

        private static void SamplerContinues()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(6, config.VocabSize, 6);
            using (Model model = Model.Random(config, seed: 10))
            {
                foreach (float temperature in new[] { 0f, 0.9f })
                {
                    uint[] whole;
                    using (var once = new Sampler(model, new SamplerOptions
                    {
                        Temperature = temperature, Seed = 4, MaxTokens = 12,
                    }))
                    {
                        whole = once.Generate(prompt);
                        Assert.Equal(prompt.Length + 12, once.ContextLength, "ContextLength after 12 tokens");
                    }
                    using (var twice = new Sampler(model, new SamplerOptions
                    {
                        Temperature = temperature, Seed = 4, MaxTokens = 6,
                    }))
                    {
                        Assert.Equal(0, twice.ContextLength, "ContextLength of a new sampler");
                        Assert.Equal(null, twice.LastStopReason, "LastStopReason of a new sampler");
                        uint[] a = twice.Generate(prompt);
                        Assert.Equal(prompt.Length + 6, twice.ContextLength, "ContextLength after 6 tokens");
                        uint[] b = twice.Generate(new uint[0]);
                        Assert.Equal(prompt.Length + 12, twice.ContextLength, "ContextLength after 12 tokens");
                        SameIds(whole, a.Concat(b).ToArray(), "temperature " + temperature + ": 6 + 6 tokens");
                        // A prompt appended mid-way continues the same context.
                        uint[] more = twice.Generate(new uint[] { 1, 2 });
                        Assert.Equal(prompt.Length + 12 + 2 + 6, twice.ContextLength, "ContextLength after a second prompt");
                        Assert.Equal(6, more.Length, "tokens after a second prompt");
                    }
                }
            }
        }

        private static void SamplerStops()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(3, config.VocabSize, 7);
            using (Model model = Model.Random(config, seed: 12))
            {
                uint[] greedy;
                using (var sampler = new Sampler(model, new SamplerOptions { Temperature = 0, MaxTokens = 16 }))
                {
                    greedy = sampler.Generate(prompt);
                }
                // A stop token: the first position whose token did not come before.
                int at = Enumerable.Range(1, greedy.Length - 1).First(i => !greedy.Take(i).Contains(greedy[i]));
                using (var sampler = new Sampler(model, new SamplerOptions
                {
                    Temperature = 0, MaxTokens = 16, StopTokens = new[] { greedy[at] },
                }))
                {
                    SameIds(greedy.Take(at).ToArray(), sampler.Generate(prompt), "tokens before the stop token");
                    Assert.Equal(StopReason.StopToken, sampler.LastStopReason, "LastStopReason");
                    // The stop token is not in the context either.
                    Assert.Equal(prompt.Length + at, sampler.ContextLength, "ContextLength");
                }

                // A context of prompt + 4 positions: prompt and generated tokens
                // together fill at most 4 + prompt positions.
                using (var sampler = new Sampler(model, new SamplerOptions
                {
                    Temperature = 0, MaxTokens = 16, Context = prompt.Length + 4,
                }))
                {
                    uint[] tokens = sampler.Generate(prompt);
                    Assert.Equal(StopReason.ContextFull, sampler.LastStopReason, "LastStopReason");
                    Assert.Equal(4, tokens.Length, "tokens in a context of prompt + 4");
                    SameIds(greedy.Take(4).ToArray(), tokens, "greedy tokens in a short context");
                    Assert.Equal(prompt.Length + 4, sampler.ContextLength, "ContextLength");
                    // Going on with no room left: ContextFull at once, no token.
                    Assert.Equal(0, sampler.Generate(new uint[0]).Length, "tokens when continuing a full context");
                    Assert.Equal(StopReason.ContextFull, sampler.LastStopReason, "LastStopReason (continuing)");
                    GenerationError(Status.InvalidArgument, "does not fit", () => sampler.Generate(new uint[] { 1 }),
                        "a prompt past a full context");
                    sampler.Reset();
                    // A prompt that fills the context exactly leaves no room for a token.
                    uint[] full = SomeIds(prompt.Length + 4, config.VocabSize, 8);
                    Assert.Equal(0, sampler.Generate(full).Length, "tokens after a prompt filling the context");
                    Assert.Equal(StopReason.ContextFull, sampler.LastStopReason, "LastStopReason (full prompt)");
                    Assert.Equal(full.Length, sampler.ContextLength, "ContextLength (full prompt)");
                }

                // The model's own context (NPositions) is the default: every
                // token of a generation that fills it can be checked by Forward.
                using (var sampler = new Sampler(model, new SamplerOptions { Temperature = 0, MaxTokens = 1000 }))
                {
                    uint[] tokens = sampler.Generate(prompt);
                    Assert.Equal(StopReason.ContextFull, sampler.LastStopReason, "LastStopReason (NPositions)");
                    Assert.Equal(config.NPositions, sampler.ContextLength, "ContextLength (NPositions)");
                    float[] logits = model.Forward(prompt.Concat(tokens).ToArray());
                    uint last = ArgMax(Row(logits, config.NPositions - 2, config.VocabSize));
                    Assert.Equal(last, tokens[tokens.Length - 1], "the last token is the argmax of Forward");
                }
            }
        }

        private static void SamplerConcurrentRequests()
        {
            GptConfig config = TinyConfig();
            using (Model model = Model.Random(config, seed: 13))
            {
                uint[][] prompts = Enumerable.Range(0, 8).Select(i => SomeIds(2 + i, config.VocabSize, 200 + i))
                    .ToArray();
                Func<int, uint[]> request = i =>
                {
                    using (var sampler = new Sampler(model, new SamplerOptions
                    {
                        Temperature = 0.8f, TopK = 20, Seed = (ulong)i, MaxTokens = 16, Threads = 1 + i % 2,
                        RepetitionPenalty = 1.3f,
                    }))
                    {
                        return sampler.Generate(prompts[i]);
                    }
                };
                uint[][] sequential = Enumerable.Range(0, prompts.Length).Select(request).ToArray();
                var concurrent = new uint[prompts.Length][];
                using (var start = new Barrier(4))
                {
                    var threads = Enumerable.Range(0, 4).Select(w => new Thread(() =>
                    {
                        start.SignalAndWait();
                        for (int i = w; i < prompts.Length; i += 4)
                        {
                            concurrent[i] = request(i);
                        }
                    })).ToList();
                    threads.ForEach(t => t.Start());
                    threads.ForEach(t => t.Join());
                }
                for (int i = 0; i < prompts.Length; i++)
                {
                    SameIds(sequential[i], concurrent[i], "request " + i);
                }
            }
        }

        private static void SamplerBusy()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(4, config.VocabSize, 9);
            var options = new SamplerOptions { Temperature = 0.7f, Seed = 5, MaxTokens = 10 };
            using (Model model = Model.Random(config, seed: 14))
            {
                uint[] reference;
                uint[] referenceNext;
                using (var fresh = new Sampler(model, options))
                {
                    reference = fresh.Generate(prompt);
                    referenceNext = fresh.Generate(new uint[0]);
                }
                using (var sampler = new Sampler(model, options))
                using (var inside = new ManualResetEventSlim())
                using (var tried = new ManualResetEventSlim())
                {
                    uint[] firstResult = null;
                    Exception firstError = null;
                    var first = new Thread(() =>
                    {
                        try
                        {
                            firstResult = sampler.Generate(prompt, token =>
                            {
                                inside.Set();
                                // Hold the sampler until the second thread has tried.
                                tried.Wait(TimeSpan.FromSeconds(30));
                                return true;
                            });
                        }
                        catch (Exception e)
                        {
                            firstError = e;
                        }
                    });
                    first.Start();
                    Assert.True(inside.Wait(TimeSpan.FromSeconds(30)), "the first thread entered the sampler");
                    GenerationException busy = null;
                    HeliosException busyLength = null;
                    HeliosException busyReset = null;
                    var second = new Thread(() =>
                    {
                        try
                        {
                            busy = GenerationError(Status.Busy, "", () => sampler.Generate(prompt), "Generate");
                            busyLength = Assert.Helios(Status.Busy, "", () => { int n = sampler.ContextLength; },
                                "ContextLength");
                            busyReset = Assert.Helios(Status.Busy, "", () => sampler.Reset(), "Reset");
                        }
                        finally
                        {
                            tried.Set();
                        }
                    });
                    second.Start();
                    second.Join();
                    first.Join();
                    Assert.True(busy != null && busyLength != null && busyReset != null,
                        "the second thread got Busy from every call");
                    Assert.Equal(0, busy.Tokens.Length, "tokens of the refused call");
                    Assert.True(firstError == null, "the first thread failed: " + firstError);
                    SameIds(reference, firstResult, "the first thread's tokens");
                    Assert.Equal(StopReason.MaxTokens, sampler.LastStopReason, "LastStopReason kept");
                    // Intact: the context and the random generator went on as if alone.
                    Assert.Equal(prompt.Length + reference.Length, sampler.ContextLength, "ContextLength");
                    SameIds(referenceNext, sampler.Generate(new uint[0]), "the next generation");
                }
            }
        }

        private static void SamplerOutlivesModel()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(4, config.VocabSize, 10);
            var options = new SamplerOptions { Temperature = 0.9f, Seed = 6, MaxTokens = 12 };
            uint[] expected;
            using (Model reference = Model.Random(config, seed: 15))
            using (var sampler = new Sampler(reference, options))
            {
                expected = sampler.Generate(prompt);
            }
            Model model = Model.Random(config, seed: 15);
            Sampler orphan = new Sampler(model, options);
            model.Dispose();
            Assert.Throws<ObjectDisposedException>(() => model.Forward(prompt), "Forward on a disposed model");
            Assert.Throws<ObjectDisposedException>(() => new Sampler(model), "a sampler of a disposed model");
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            using (orphan)
            {
                SameIds(expected, orphan.Generate(prompt), "tokens after the model was disposed");
                orphan.Reset();
                SameIds(expected, orphan.Generate(prompt), "after Reset");
            }
            // A sampler left to the finalizer, with its model, is released too.
            MakeGarbageSampler(config);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }

        private static void MakeGarbageSampler(GptConfig config)
        {
            var model = Model.Random(config, seed: 16);
            var sampler = new Sampler(model, new SamplerOptions { MaxTokens = 2 });
            sampler.Generate(new uint[] { 1 });
        }

        private static void SamplerCancellation()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(4, config.VocabSize, 11);
            var options = new SamplerOptions { Temperature = 0.8f, Seed = 3, MaxTokens = 30 };
            using (Model model = Model.Random(config, seed: 17))
            {
                uint[] reference;
                using (var sampler = new Sampler(model, options))
                {
                    reference = sampler.Generate(prompt);
                }
                using (var sampler = new Sampler(model, options))
                using (var source = new CancellationTokenSource())
                {
                    int seen = 0;
                    GenerationException error = GenerationError(Status.Cancelled, "cancel", () =>
                        sampler.Generate(prompt, token =>
                        {
                            if (++seen == 5)
                            {
                                source.Cancel();
                            }
                            return true;
                        }, source.Token), "cancelled after 5 tokens");
                    // Checked before each token: exactly the 5 tokens so far.
                    SameIds(reference.Take(5).ToArray(), error.Tokens, "the tokens so far");
                    Assert.Equal(null, sampler.LastStopReason, "LastStopReason after a cancellation");
                    Assert.Equal(prompt.Length + 5, sampler.ContextLength, "the tokens so far stay in the context");
                    // Going on without the cancelled token continues the same draw.
                    uint[] rest = sampler.Generate(new uint[0]);
                    SameIds(reference.Skip(5).ToArray(), rest.Take(reference.Length - 5).ToArray(),
                        "continuing after the cancellation");
                }
                using (var sampler = new Sampler(model, options))
                using (var source = new CancellationTokenSource())
                {
                    source.Cancel();
                    GenerationException error = GenerationError(Status.Cancelled, "", () =>
                        sampler.Generate(prompt, null, source.Token), "a token cancelled before the call");
                    Assert.Equal(0, error.Tokens.Length, "no tokens");
                }
                // Cancelled from another thread while generating (a slow callback).
                using (var sampler = new Sampler(model, new SamplerOptions { Seed = 3, MaxTokens = 256 }))
                using (var source = new CancellationTokenSource())
                using (var started = new ManualResetEventSlim())
                {
                    int seen = 0;
                    var canceller = new Thread(() =>
                    {
                        started.Wait(TimeSpan.FromSeconds(30));
                        source.Cancel();
                    });
                    canceller.Start();
                    GenerationException error = GenerationError(Status.Cancelled, "", () =>
                        sampler.Generate(prompt, token =>
                        {
                            if (Interlocked.Increment(ref seen) == 3)
                            {
                                started.Set();
                            }
                            Thread.Sleep(2);
                            return true;
                        }, source.Token), "cancelled from another thread");
                    canceller.Join();
                    Assert.True(error.Tokens.Length >= 3 && error.Tokens.Length < 256,
                        "tokens before the other thread cancelled: " + error.Tokens.Length);
                    Assert.Equal(seen, error.Tokens.Length, "tokens seen by the callback");
                    Assert.Equal(prompt.Length + seen, sampler.ContextLength, "ContextLength");
                }
            }
        }

        private static void SamplerCallbackStops()
        {
            GptConfig config = TinyConfig();
            uint[] prompt = SomeIds(4, config.VocabSize, 12);
            var options = new SamplerOptions { Temperature = 0, MaxTokens = 20 };
            using (Model model = Model.Random(config, seed: 18))
            using (var sampler = new Sampler(model, options))
            {
                uint[] reference = sampler.Generate(prompt);
                sampler.Reset();
                int calls = 0;
                uint[] tokens = sampler.Generate(prompt, token => ++calls < 4);
                Assert.Equal(4, calls, "callback calls");
                Assert.Equal(StopReason.Callback, sampler.LastStopReason, "LastStopReason");
                // The token the callback refused is produced (and in the context).
                SameIds(reference.Take(4).ToArray(), tokens, "tokens");
                Assert.Equal(prompt.Length + 4, sampler.ContextLength, "ContextLength");
                SameIds(reference.Skip(4).Take(16).ToArray(), sampler.Generate(new uint[0]).Take(16).ToArray(),
                    "going on after the stop");
                Assert.Equal(StopReason.MaxTokens, sampler.LastStopReason, "LastStopReason after going on");
            }
        }

        private sealed class CallbackFailure : Exception
        {
            public CallbackFailure(uint token)
                : base("callback failed at token " + token)
            {
            }
        }

        private static void SamplerCallbackThrows()
        {
            GptConfig config = TinyConfig(vocab: 300);
            using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300))
            using (Model model = Model.Random(config, seed: 19))
            using (var sampler = new Sampler(model, new SamplerOptions { Temperature = 0, MaxTokens = 10 }))
            {
                int calls = 0;
                CallbackFailure failure = Assert.Throws<CallbackFailure>(() => sampler.Generate(new uint[] { 1, 2 },
                    token =>
                    {
                        if (++calls == 3)
                        {
                            throw new CallbackFailure(token);
                        }
                        return true;
                    }), "an exception in onToken");
                Assert.Contains("SamplerCallbackThrows", failure.StackTrace, "the callback's own stack trace");
                Assert.Equal(3, calls, "no call after the exception");
                Assert.Equal(null, sampler.LastStopReason, "LastStopReason after an exception");
                Assert.Equal(2 + 3, sampler.ContextLength, "ContextLength");
                Assert.Equal(10, sampler.Generate(new uint[0]).Length, "the sampler still works");

                sampler.Reset();
                var invalid = Assert.Throws<InvalidOperationException>(() => sampler.GenerateText(tokenizer, "the cat",
                    piece => { throw new InvalidOperationException("text callback"); }), "an exception in onText");
                Assert.Equal("text callback", invalid.Message, "the text callback's exception");
                Assert.Equal(10, sampler.Generate(new uint[0]).Length, "the sampler still works after onText");
            }
        }

        private static void SamplerGenerateText()
        {
            using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 320,
                specialTokens: new[] { "<|endoftext|>" }))
            {
                GptConfig config = TinyConfig(vocab: tokenizer.VocabSize);
                using (Model model = Model.Random(config, seed: 20))
                {
                    foreach (string prompt in new[] { "the cat sat", "café naïve", "中文" })
                    {
                        var options = new SamplerOptions { Temperature = 1.2f, Seed = 21, MaxTokens = 40 };
                        uint[] ids;
                        using (var sampler = new Sampler(model, options))
                        {
                            ids = sampler.Generate(tokenizer.Encode(prompt));
                        }
                        string expected = tokenizer.Decode(ids);
                        Assert.True(expected.Length > 0, "some text was generated");

                        using (var sampler = new Sampler(model, options))
                        {
                            var pieces = new List<string>();
                            string text = sampler.GenerateText(tokenizer, prompt, piece =>
                            {
                                pieces.Add(piece);
                                return true;
                            });
                            Assert.Equal(expected, text, "GenerateText of \"" + prompt + "\"");
                            Assert.Equal(StopReason.MaxTokens, sampler.LastStopReason, "LastStopReason");
                            Assert.Equal(text, string.Concat(pieces), "the pieces concatenate to the text");
                            Assert.True(pieces.All(p => p.Length > 0), "no empty piece");
                            int promptIds = tokenizer.Encode(prompt).Length;
                            Assert.Equal(promptIds + ids.Length, sampler.ContextLength, "ContextLength");

                            // Again with the Action overload and without a callback.
                            sampler.Reset();
                            var builder = new StringBuilder();
                            Assert.Equal(expected, sampler.GenerateText(tokenizer, prompt, piece => { builder.Append(piece); }),
                                "GenerateText with an Action");
                            Assert.Equal(expected, builder.ToString(), "the Action's pieces");
                            sampler.Reset();
                            Assert.Equal(expected, sampler.GenerateText(tokenizer, prompt), "GenerateText without a callback");

                            sampler.Reset();
                            var streamed = new List<string>();
                            foreach (string piece in sampler.StreamText(tokenizer, prompt))
                            {
                                streamed.Add(piece);
                            }
                            Assert.Equal(expected, string.Concat(streamed), "StreamText");
                            Assert.Equal(StopReason.MaxTokens, sampler.LastStopReason, "LastStopReason after StreamText");
                            Assert.True(streamed.All(p => p.Length > 0), "no empty streamed piece");
                        }
                    }

                    // A callback returning false: the text ends with that piece.
                    using (var sampler = new Sampler(model, new SamplerOptions { Temperature = 0, MaxTokens = 40 }))
                    {
                        string full = sampler.GenerateText(tokenizer, "the dog");
                        sampler.Reset();
                        var pieces = new List<string>();
                        string text = sampler.GenerateText(tokenizer, "the dog", piece =>
                        {
                            pieces.Add(piece);
                            return pieces.Count < 3;
                        });
                        Assert.Equal(StopReason.Callback, sampler.LastStopReason, "LastStopReason");
                        Assert.Equal(3, pieces.Count, "pieces");
                        Assert.Equal(string.Concat(pieces), text, "the text up to the refused piece");
                        Assert.True(full.StartsWith(text, StringComparison.Ordinal), "a prefix of the full text");
                    }
                }
            }
        }

        private static void SamplerStopStrings()
        {
            using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300))
            {
                GptConfig config = TinyConfig(vocab: tokenizer.VocabSize);
                using (Model model = Model.Random(config, seed: 22))
                {
                    var options = new SamplerOptions { Temperature = 1.0f, Seed = 2, MaxTokens = 60 };
                    string full;
                    using (var sampler = new Sampler(model, options))
                    {
                        full = sampler.GenerateText(tokenizer, "the cat");
                    }
                    // Two letters from the middle of the text (not U+FFFD, not the very start).
                    int at = Enumerable.Range(2, Math.Max(0, full.Length - 3))
                        .FirstOrDefault(i => char.IsLetter(full[i]) && full[i] < 128 && char.IsLetter(full[i + 1])
                            && full[i + 1] < 128);
                    Assert.True(at > 0, "the generated text has two ASCII letters in a row: " + full);
                    string stop = full.Substring(at, 2);
                    int first = full.IndexOf(stop, StringComparison.Ordinal);
                    var stopping = options.Clone();
                    stopping.StopStrings = new[] { "never in the text \u0001", stop };
                    using (var sampler = new Sampler(model, stopping))
                    {
                        var pieces = new List<string>();
                        string text = sampler.GenerateText(tokenizer, "the cat", piece =>
                        {
                            pieces.Add(piece);
                            return true;
                        });
                        Assert.Equal(full.Substring(0, first), text, "the text before \"" + stop + "\"");
                        Assert.Equal(StopReason.StopString, sampler.LastStopReason, "LastStopReason");
                        Assert.Equal(text, string.Concat(pieces), "pieces");
                        Assert.True(pieces.All(p => !p.Contains(stop)), "no piece holds the stop string");
                        sampler.Reset();
                        Assert.Equal(text, string.Concat(sampler.StreamText(tokenizer, "the cat")), "StreamText");
                        Assert.Equal(StopReason.StopString, sampler.LastStopReason, "LastStopReason after StreamText");
                    }
                }
            }
        }

        private static void SamplerStreamStops()
        {
            using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300))
            {
                GptConfig config = TinyConfig(vocab: tokenizer.VocabSize);
                using (Model model = Model.Random(config, seed: 23))
                using (var sampler = new Sampler(model, new SamplerOptions { Temperature = 0.9f, Seed = 1, MaxTokens = 50 }))
                {
                    int fullPieces = 0;
                    string full = sampler.GenerateText(tokenizer, "the quick", piece => ++fullPieces > 0);
                    // The stream runs at most StreamQueueCapacity pieces ahead of
                    // its consumer, so a consumer that stops after 3 pieces stops
                    // a generation still running when it has more pieces than this.
                    Assert.True(fullPieces > 3 + Sampler.StreamQueueCapacity + 1,
                        "the generation is long enough to be stopped mid-way: " + fullPieces + " pieces");
                    sampler.Reset();
                    // Left after two pieces: the sampler is free once the loop is left.
                    var taken = new List<string>();
                    foreach (string piece in sampler.StreamText(tokenizer, "the quick"))
                    {
                        taken.Add(piece);
                        if (taken.Count == 2)
                        {
                            break;
                        }
                    }
                    Assert.True(full.StartsWith(string.Concat(taken), StringComparison.Ordinal), "the first pieces");
                    // Callback, or null when the cancellation came first.
                    Assert.True(sampler.LastStopReason == StopReason.Callback || sampler.LastStopReason == null,
                        "LastStopReason after leaving early: " + sampler.LastStopReason);
                    Assert.True(sampler.ContextLength < tokenizer.Encode("the quick").Length + 50,
                        "the generation stopped early: " + sampler.ContextLength);
                    sampler.Reset();
                    Assert.Equal(full, sampler.GenerateText(tokenizer, "the quick"), "the sampler is free and intact");

                    // Cancelled mid-stream: the error comes after the pieces streamed before it.
                    sampler.Reset();
                    using (var source = new CancellationTokenSource())
                    {
                        var streamed = new List<string>();
                        GenerationException error = GenerationError(Status.Cancelled, "", () =>
                        {
                            foreach (string piece in sampler.StreamText(tokenizer, "the quick", source.Token))
                            {
                                streamed.Add(piece);
                                if (streamed.Count == 3)
                                {
                                    source.Cancel();
                                }
                            }
                        }, "StreamText cancelled");
                        Assert.True(streamed.Count >= 3, "the pieces before the cancellation: " + streamed.Count);
                        Assert.Equal(string.Concat(streamed), error.Text, "the exception's Text");
                        Assert.True(full.StartsWith(error.Text, StringComparison.Ordinal), "a prefix of the full text");
                    }

                    // GenerateText cancelled: Text holds what was streamed.
                    sampler.Reset();
                    using (var source = new CancellationTokenSource())
                    {
                        var pieces = new List<string>();
                        GenerationException error = GenerationError(Status.Cancelled, "", () =>
                            sampler.GenerateText(tokenizer, "the quick", piece =>
                            {
                                pieces.Add(piece);
                                if (pieces.Count == 2)
                                {
                                    source.Cancel();
                                }
                                return true;
                            }, source.Token), "GenerateText cancelled");
                        Assert.Equal(string.Concat(pieces), error.Text, "the exception's Text");
                        Assert.Equal(0, error.Tokens.Length, "no ids for GenerateText");
                    }

                    // A stream over a busy sampler reports Busy from MoveNext.
                    sampler.Reset();
                    using (var inside = new ManualResetEventSlim())
                    using (var release = new ManualResetEventSlim())
                    {
                        var holder = new Thread(() => sampler.Generate(new uint[] { 1 }, token =>
                        {
                            inside.Set();
                            release.Wait(TimeSpan.FromSeconds(30));
                            return false;
                        }));
                        holder.Start();
                        Assert.True(inside.Wait(TimeSpan.FromSeconds(30)), "the holder entered");
                        try
                        {
                            IEnumerable<string> stream = sampler.StreamText(tokenizer, "the");
                            GenerationError(Status.Busy, "", () => stream.ToList(), "StreamText on a busy sampler");
                        }
                        finally
                        {
                            release.Set();
                            holder.Join();
                        }
                        Assert.Equal(StopReason.Callback, sampler.LastStopReason, "the holder's stop reason kept");
                    }
                }
            }
        }

        private static void ModelHeliosErrors()
        {
            GptConfig config = TinyConfig();
            int vocab = config.VocabSize;
            using (Model model = Model.Random(config, seed: 24))
            {
                // Forward.
                Assert.Helios(Status.InvalidArgument, vocab.ToString(), () => model.Forward(new uint[] { 1, (uint)vocab, 2 }),
                    "Forward: an id == vocab");
                Assert.Helios(Status.InvalidArgument, "", () => model.Forward(new uint[] { uint.MaxValue }),
                    "Forward: id uint.MaxValue");
                Assert.Helios(Status.InvalidArgument, "count", () => model.Forward(new uint[0]), "Forward: no ids");
                Assert.Helios(Status.InvalidArgument, "", () => model.Forward(new uint[config.NPositions + 1]),
                    "Forward: more ids than positions");
                Assert.Helios(Status.InvalidArgument, "", () => model.Forward(new uint[] { 1 }, threads: 0),
                    "Forward: threads 0");
                Assert.Helios(Status.InvalidArgument, "", () => model.Forward(new uint[] { 1 }, threads: 1025),
                    "Forward: threads 1025");
                Assert.Helios(Status.BufferTooSmall, "", () => model.Forward(new uint[] { 1, 2 }, new float[2 * vocab - 1]),
                    "Forward: a span one float short");

                // Random with a bad shape.
                Func<Action<GptConfig>, Action> randomWith = change => () =>
                {
                    GptConfig bad = TinyConfig();
                    change(bad);
                    Model.Random(bad).Dispose();
                };
                Assert.Helios(Status.InvalidArgument, "n_head", randomWith(c => c.NHead = 5), "NHead not dividing NEmbd");
                Assert.Helios(Status.InvalidArgument, "vocab_size", randomWith(c => c.VocabSize = 0), "VocabSize 0");
                Assert.Helios(Status.InvalidArgument, "", randomWith(c => c.NPositions = (1 << 24) + 1), "above 2^24");
                Assert.Helios(Status.InvalidArgument, "epsilon", randomWith(c => c.LayerNormEpsilon = float.NaN),
                    "NaN epsilon");
                Assert.Helios(Status.InvalidArgument, "epsilon", randomWith(c => c.LayerNormEpsilon = 0), "epsilon 0");

                // Load and Save.
                string missing = Path.Combine(Path.GetTempPath(), "helios-no-such-model-" + Guid.NewGuid().ToString("N"));
                Assert.Helios(Status.Io, "", () => Model.Load(missing), "Load of a missing folder");
                Assert.Helios(Status.InvalidArgument, "", () => Model.Load(""), "Load of an empty path");
                string notGpt2 = ModelTempDir();
                try
                {
                    Directory.CreateDirectory(notGpt2);
                    Assert.Helios(Status.Io, "", () => Model.Load(notGpt2), "Load of an empty folder");
                    File.WriteAllText(Path.Combine(notGpt2, "config.json"), "{\"model_type\": \"llama\"}");
                    File.WriteAllBytes(Path.Combine(notGpt2, "model.safetensors"), new byte[] { 1, 2, 3 });
                    Exception error = Assert.Throws<HeliosException>(() => Model.Load(notGpt2), "Load of a non-GPT-2");
                    Assert.Equal(Status.Format, ((HeliosException)error).Status, "Load of a non-GPT-2 (status)");
                    string file = Path.Combine(notGpt2, "a-file");
                    File.WriteAllText(file, "x");
                    Assert.Helios(Status.Io, "", () => model.Save(Path.Combine(file, "below-a-file")),
                        "Save below a file");
                }
                finally
                {
                    Directory.Delete(notGpt2, true);
                }

                // Sampler options.
                Func<Action<SamplerOptions>, Action> samplerWith = change => () =>
                {
                    var options = new SamplerOptions();
                    change(options);
                    new Sampler(model, options).Dispose();
                };
                Assert.Helios(Status.InvalidArgument, "temperature", samplerWith(o => o.Temperature = float.NaN),
                    "NaN temperature");
                Assert.Helios(Status.InvalidArgument, "temperature", samplerWith(o => o.Temperature = -0.5f),
                    "negative temperature");
                Assert.Helios(Status.InvalidArgument, "temperature",
                    samplerWith(o => o.Temperature = float.PositiveInfinity), "infinite temperature");
                Assert.Helios(Status.InvalidArgument, "top_p", samplerWith(o => o.TopP = 0), "TopP 0");
                Assert.Helios(Status.InvalidArgument, "top_p", samplerWith(o => o.TopP = 1.5f), "TopP 1.5");
                Assert.Helios(Status.InvalidArgument, "top_p", samplerWith(o => o.TopP = float.NaN), "TopP NaN");
                Assert.Helios(Status.InvalidArgument, "repetition_penalty", samplerWith(o => o.RepetitionPenalty = 0),
                    "RepetitionPenalty 0");
                Assert.Helios(Status.InvalidArgument, "max_tokens", samplerWith(o => o.MaxTokens = 0), "MaxTokens 0");
                Assert.Helios(Status.InvalidArgument, "stop string", samplerWith(o => o.StopStrings = new[] { "" }),
                    "an empty stop string");
                Assert.Helios(Status.InvalidArgument, "stop token", samplerWith(o => o.StopTokens = new[] { (uint)vocab }),
                    "a stop token == vocab");
                Assert.Helios(Status.InvalidArgument, "", samplerWith(o => o.Context = config.NPositions + 1),
                    "Context above NPositions");
                Assert.Helios(Status.InvalidArgument, "", samplerWith(o => o.Threads = 0), "threads 0");
                Assert.Helios(Status.InvalidArgument, "", samplerWith(o => o.Threads = 1025), "threads 1025");

                // Generate.
                using (var sampler = new Sampler(model, new SamplerOptions { MaxTokens = 4, Context = 8 }))
                {
                    GenerationError(Status.InvalidArgument, "prompt[1] = " + vocab,
                        () => sampler.Generate(new uint[] { 0, (uint)vocab }), "Generate: an id == vocab");
                    GenerationError(Status.InvalidArgument, "empty", () => sampler.Generate(new uint[0]),
                        "Generate: an empty prompt on an empty context");
                    GenerationError(Status.InvalidArgument, "does not fit", () => sampler.Generate(new uint[9]),
                        "Generate: a prompt longer than the context");
                    Assert.Equal(0, sampler.ContextLength, "refused prompts leave the context empty");
                    Assert.Equal(null, sampler.LastStopReason, "LastStopReason after refusals");
                    Assert.Equal(0, sampler.Generate(new uint[8]).Length, "tokens after a prompt filling the context");
                }

                // A model whose vocabulary is padded beyond the tokenizer's draws only the tokenizer's ids.
                using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300))
                using (Model padded = Model.Random(TinyConfig(vocab: tokenizer.VocabSize + 50), seed: 2))
                using (var sampler = new Sampler(padded, new SamplerOptions { Temperature = 3f, Seed = 1, MaxTokens = 60 }))
                {
                    string text = sampler.GenerateText(tokenizer, "the");
                    Assert.Equal(StopReason.MaxTokens, sampler.LastStopReason, "a padded vocabulary: LastStopReason");
                    Assert.True(text.Length > 0, "a padded vocabulary: text");
                }

                // GenerateText with a tokenizer larger than the model's vocabulary.
                using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300))
                using (var sampler = new Sampler(model))
                {
                    GenerationError(Status.InvalidArgument, "vocabulary", () => sampler.GenerateText(tokenizer, "the"),
                        "a tokenizer larger than the model");
                }
                using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300))
                using (Model large = Model.Random(TinyConfig(vocab: 300), seed: 1))
                using (var sampler = new Sampler(large))
                {
                    GenerationError(Status.InvalidArgument, "", () => sampler.GenerateText(tokenizer, ""),
                        "GenerateText: an empty prompt on an empty context");
                }
            }
        }

        private static void ModelArgumentErrors()
        {
            GptConfig config = TinyConfig();
            Assert.Throws<ArgumentNullException>(() => Model.Random(null), "Random(null)");
            Assert.Throws<ArgumentNullException>(() => Model.Load(null), "Load(null)");
            Assert.Throws<ArgumentOutOfRangeException>(() => config.VocabSize = -1, "VocabSize -1");
            Assert.Throws<ArgumentOutOfRangeException>(() => config.NHead = -1, "NHead -1");
            var options = new SamplerOptions();
            Assert.Throws<ArgumentOutOfRangeException>(() => options.TopK = -1, "TopK -1");
            Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxTokens = -1, "MaxTokens -1");
            Assert.Throws<ArgumentOutOfRangeException>(() => options.Context = -1, "Context -1");
            Assert.Throws<ArgumentOutOfRangeException>(() => options.Threads = -1, "Threads -1");
            options.StopTokens = null;
            Assert.Equal(0, options.StopTokens.Count, "null StopTokens is none");
            using (Model model = Model.Random(config))
            using (Tokenizer tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300))
            using (var sampler = new Sampler(model))
            {
                Assert.Throws<ArgumentNullException>(() => model.Forward((uint[])null), "Forward(null)");
                Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(new uint[] { 1 }, threads: -1),
                    "Forward threads -1");
                Assert.Throws<ArgumentNullException>(() => model.Save(null), "Save(null)");
                Assert.Throws<ArgumentNullException>(() => new Sampler(null), "new Sampler(null)");
                Assert.Throws<ArgumentException>(() => new Sampler(model, new SamplerOptions { StopStrings = new[] { "a\0b" } }),
                    "a stop string holding a NUL");
                Assert.Throws<ArgumentException>(() => new Sampler(model, new SamplerOptions { StopStrings = new string[] { null } }),
                    "a null stop string");
                Assert.Throws<ArgumentException>(() => new Sampler(model, new SamplerOptions { StopStrings = new[] { "\ud800" } }),
                    "a lone surrogate stop string");
                Assert.Throws<ArgumentNullException>(() => sampler.Generate((uint[])null), "Generate(null)");
                Assert.Throws<ArgumentNullException>(() => sampler.GenerateText(null, "x"), "GenerateText(null tokenizer)");
                Assert.Throws<ArgumentNullException>(() => sampler.GenerateText(tokenizer, null), "GenerateText(null prompt)");
                Assert.Throws<ArgumentNullException>(() => sampler.GenerateText(tokenizer, "x", (Action<string>)null),
                    "GenerateText(null Action)");
                Assert.Throws<ArgumentException>(() => sampler.GenerateText(tokenizer, "\ud800"), "a lone surrogate prompt");
                Assert.Throws<ArgumentNullException>(() => sampler.StreamText(null, "x"), "StreamText(null tokenizer)");
                Assert.Throws<ArgumentNullException>(() => sampler.StreamText(tokenizer, null), "StreamText(null prompt)");
                Assert.Equal(0, sampler.ContextLength, "nothing ran");
            }
        }

        private static void ModelDisposed()
        {
            GptConfig config = TinyConfig();
            var model = Model.Random(config);
            var tokenizer = Tokenizer.TrainBpe(s_modelCorpus, vocabSize: 300);
            var sampler = new Sampler(model);
            sampler.Dispose();
            sampler.Dispose();
            var disposedSampler = new Dictionary<string, Action>
            {
                { "Generate", () => sampler.Generate(new uint[] { 1 }) },
                { "GenerateText", () => sampler.GenerateText(tokenizer, "x") },
                { "StreamText", () => sampler.StreamText(tokenizer, "x").ToList() },
                { "Reset", () => sampler.Reset() },
                { "ContextLength", () => { int n = sampler.ContextLength; } },
                { "Options", () => { var o = sampler.Options; } },
            };
            foreach (var call in disposedSampler)
            {
                Assert.Throws<ObjectDisposedException>(call.Value, "Sampler." + call.Key + " after Dispose");
            }
            using (var live = new Sampler(model))
            {
                tokenizer.Dispose();
                Assert.Throws<ObjectDisposedException>(() => live.GenerateText(tokenizer, "x"),
                    "GenerateText with a disposed tokenizer");
                Assert.Equal(0, live.ContextLength, "nothing ran");
            }
            // Disposed while another thread is inside: that call finishes, later ones throw.
            using (var inside = new ManualResetEventSlim())
            using (var disposed = new ManualResetEventSlim())
            {
                var busySampler = new Sampler(model, new SamplerOptions { MaxTokens = 6, Seed = 1 });
                uint[] tokens = null;
                var holder = new Thread(() => tokens = busySampler.Generate(new uint[] { 1 }, token =>
                {
                    inside.Set();
                    disposed.Wait(TimeSpan.FromSeconds(30));
                    return true;
                }));
                holder.Start();
                Assert.True(inside.Wait(TimeSpan.FromSeconds(30)), "the holder entered");
                busySampler.Dispose();
                model.Dispose();
                Assert.Throws<ObjectDisposedException>(() => busySampler.Generate(new uint[] { 1 }),
                    "Generate after Dispose while another thread is inside");
                Assert.Throws<ObjectDisposedException>(() => model.Forward(new uint[] { 1 }),
                    "Forward after the model's Dispose while its sampler is inside");
                disposed.Set();
                holder.Join();
                Assert.Equal(6, tokens.Length, "the call inside finished normally");
            }
            model.Dispose();
            model.Dispose();
            var disposedModel = new Dictionary<string, Action>
            {
                { "Forward", () => model.Forward(new uint[] { 1 }) },
                { "Forward(Span)", () => model.Forward(new uint[] { 1 }, new float[config.VocabSize]) },
                { "Save", () => model.Save(ModelTempDir()) },
                { "Config", () => { var c = model.Config; } },
                { "VocabSize", () => { int v = model.VocabSize; } },
                { "new Sampler", () => new Sampler(model) },
            };
            foreach (var call in disposedModel)
            {
                Assert.Throws<ObjectDisposedException>(call.Value, "Model." + call.Key + " after Dispose");
            }
        }
    }
}
