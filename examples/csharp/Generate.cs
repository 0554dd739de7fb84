// helios from C#: a small text-generation "server". One GPT-2 model is loaded once and shared by every
// request (its weights are immutable); each request gets a Sampler of its own (its KV cache, random
// generator and context), so requests run on several threads at once without locks. A tokenizer, also
// shared, turns prompts into token ids and generated ids back into text.
//
// Run: `make -C bindings/csharp demo` (after `cargo build --release`), or by hand
//   mono Generate.exe [checkpoint-dir]
// With no argument the model is a tiny GPT-2 with random weights (so the text is gibberish, but every
// step is real); with a Hugging Face GPT-2 folder (config.json + model.safetensors, and tokenizer.json
// or vocab.json + merges.txt) it is that model and its tokenizer.

using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Helios;

internal static class GenerateExample
{
    // The requests the "server" receives: a prompt and its settings.
    private sealed class Request
    {
        public string Prompt;
        public float Temperature;
        public int TopK;
        public ulong Seed;
    }

    private static int Main(string[] args)
    {
        var clock = Stopwatch.StartNew();
        string dir = args.Length > 0 ? args[0] : null;

        // 1. The shared model and tokenizer, made once at start-up.
        using (Tokenizer tokenizer = MakeTokenizer(dir))
        using (Model model = dir != null ? Model.Load(dir) : Model.Random(TinyConfig(tokenizer.VocabSize), seed: 1))
        {
            GptConfig config = model.Config;
            Console.WriteLine($"model: {(dir ?? "random tiny GPT-2")}: {config}");
            Console.WriteLine($"  {model.ParameterCount:N0} weights, {model.SizeInBytes / 1024.0:F0} KiB "
                + $"(told to the GC as memory pressure); tokenizer: {tokenizer.VocabSize} tokens");

            // 2. The requests, handled concurrently: each task makes its own Sampler over the shared model.
            Request[] requests =
            {
                new Request { Prompt = "The cat sat on", Temperature = 0f, TopK = 0, Seed = 0 },
                new Request { Prompt = "A model generates", Temperature = 0.8f, TopK = 40, Seed = 1 },
                new Request { Prompt = "The quick brown fox", Temperature = 1.0f, TopK = 0, Seed = 2 },
                new Request { Prompt = "Tokens become text", Temperature = 0.7f, TopK = 20, Seed = 3 },
                new Request { Prompt = "Once upon a time", Temperature = 0.9f, TopK = 50, Seed = 4 },
                new Request { Prompt = "The sampler draws", Temperature = 0f, TopK = 0, Seed = 5 },
            };
            string[] replies = new string[requests.Length];
            Task[] tasks = requests.Select((request, i) => Task.Run(() =>
            {
                var options = new SamplerOptions
                {
                    Temperature = request.Temperature,
                    TopK = request.TopK,
                    Seed = request.Seed,
                    MaxTokens = 24,
                    RepetitionPenalty = 1.1f,
                    Threads = 1, // one worker per request: the requests themselves are the parallelism
                };
                using (var sampler = new Sampler(model, options))
                {
                    var watch = Stopwatch.StartNew();
                    string text = sampler.GenerateText(tokenizer, request.Prompt);
                    replies[i] = $"[request {i}, thread {Thread.CurrentThread.ManagedThreadId,2}, "
                        + $"T={request.Temperature:F1} top-k={request.TopK}] \"{request.Prompt}\" -> \"{Printable(text)}\""
                        + $"\n    ({sampler.ContextLength} tokens in context, stopped by {sampler.LastStopReason}, "
                        + $"{watch.Elapsed.TotalMilliseconds:F0} ms)";
                }
            })).ToArray();
            Task.WaitAll(tasks);
            Console.WriteLine($"{requests.Length} requests served concurrently:");
            foreach (string reply in replies)
            {
                Console.WriteLine("  " + reply);
            }

            // 3. Streaming: the pieces arrive while the sampler generates (whole characters only).
            using (var sampler = new Sampler(model, new SamplerOptions { Temperature = 0.8f, Seed = 7, MaxTokens = 16 }))
            {
                Console.Write("streamed: \"");
                foreach (string piece in sampler.StreamText(tokenizer, "The dog"))
                {
                    Console.Write(Printable(piece) + "|");
                }
                Console.WriteLine($"\" (pieces separated by |; stopped by {sampler.LastStopReason})");
            }

            // 4. Token ids in, token ids out, with a per-token callback and a deadline: a CancellationToken
            //    stops the generation before its next token, and the tokens so far come with the exception.
            using (var sampler = new Sampler(model, new SamplerOptions { Seed = 8, MaxTokens = 200 }))
            using (var deadline = new CancellationTokenSource())
            {
                uint[] prompt = tokenizer.Encode("The cat");
                int produced = 0;
                try
                {
                    sampler.Generate(prompt, token =>
                    {
                        if (++produced == 10)
                        {
                            deadline.Cancel(); // e.g. the client went away
                        }
                        return true;
                    }, deadline.Token);
                }
                catch (GenerationException e) when (e.Status == Status.Cancelled)
                {
                    Console.WriteLine($"cancelled after {e.Tokens.Length} tokens: [{string.Join(", ", e.Tokens)}] = "
                        + $"\"{Printable(tokenizer.Decode(e.Tokens))}\"");
                }
            }

            // 5. Bad input is an exception with helios's status and message, never a crash.
            try
            {
                new Sampler(model, new SamplerOptions { TopP = 1.5f }).Dispose();
            }
            catch (HeliosException e)
            {
                Console.WriteLine($"bad options: {e.StatusName}: {e.Message}");
            }
        }
        Console.WriteLine($"done in {clock.Elapsed.TotalSeconds:F2} s");
        return 0;
    }

    // A tiny GPT-2 (2 layers of width 64) with the tokenizer's vocabulary, so every id it draws decodes
    // (a model whose vocabulary is larger than its tokenizer's can draw an id the tokenizer lacks).
    private static GptConfig TinyConfig(int vocabSize)
    {
        return new GptConfig { VocabSize = vocabSize, NPositions = 128, NEmbd = 64, NLayer = 2, NHead = 4, NInner = 256 };
    }

    // The checkpoint's own tokenizer, or a char-level one trained here on a few sentences (one token per
    // character, as in nanoGPT's Shakespeare example, so that the random model's text stays readable).
    private static Tokenizer MakeTokenizer(string dir)
    {
        if (dir != null && (File.Exists(Path.Combine(dir, "tokenizer.json")) || File.Exists(Path.Combine(dir, "vocab.json"))))
        {
            return Tokenizer.FromPretrainedDir(dir);
        }
        string[] corpus =
        {
            "The cat sat on the mat, and the dog sat on the log.",
            "A model generates text one token at a time; the sampler draws each token from its logits.",
            "The quick brown fox jumps over the lazy dog while the cat watches.",
            "Tokens become text and text becomes tokens: the tokenizer merges the most frequent pairs.",
            "Once upon a time a small model served many requests at once, one sampler for each.",
        };
        return Tokenizer.TrainChar(corpus);
    }

    // Newlines and other control characters shown as escapes, so each reply stays on its lines.
    private static string Printable(string text)
    {
        var builder = new StringBuilder();
        foreach (char c in text)
        {
            builder.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        }
        return builder.ToString();
    }
}
