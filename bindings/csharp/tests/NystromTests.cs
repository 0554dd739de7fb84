// Tests of NystromEngine against independent references: K(X, L)·M computed
// here from the engine's own landmarks and normaliser, a one-landmark case
// worked out by hand, Transform of stacked rows for Update, the header's
// constants as text, and the raw bits of every result.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Threading;

namespace Helios.Tests
{
    internal static partial class Program
    {
        private static readonly LandmarkSelection[] s_selections =
        {
            LandmarkSelection.Uniform, LandmarkSelection.KMeansPlusPlus,
        };

        private static void RunNystromTests(Harness harness)
        {
            harness.Run("Nystrom: enums and the options struct mirror the header", NystromMirrorsHeader);
            harness.Run("Nystrom: default options and the engine's options", NystromOptionsRoundTrip);
            harness.Run("Nystrom: double Transform equals K(X, L)·M from the engine's getters",
                NystromDoubleReference);
            harness.Run("Nystrom: float Transform equals K(X, L)·M from the engine's getters", NystromFloatReference);
            harness.Run("Nystrom: one landmark and no ridge give exp(-gamma ||x - l||²)", NystromOneLandmark);
            harness.Run("Nystrom: Build then Update equals Transform of the stacked rows",
                NystromUpdateEqualsTransform);
            harness.Run("Nystrom: UpdateInPlace writes the new rows only", NystromUpdateInPlace);
            harness.Run("Nystrom: span outputs and no old rows", NystromSpansAndEmpty);
            harness.Run("Nystrom: bit-identical for 1, 2 and 3 threads", NystromThreadsDeterminism);
            harness.Run("Nystrom: Save/Load and ToBytes/FromBytes keep every bit", NystromPersistenceRoundTrip);
            harness.Run("Nystrom: truncated or corrupt files and bytes are Format, a missing file Io",
                NystromCorruptInput);
            harness.Run("Nystrom: two threads on one engine succeed or get Busy", NystromConcurrentCallers);
            harness.Run("Nystrom: Dispose while another thread is inside is safe", NystromDisposeDuringCall);
            harness.Run("Nystrom: helios errors come back as HeliosException", NystromHeliosErrors);
            harness.Run("Nystrom: the wrong element type is a clear InvalidArgument", NystromWrongElementType);
            harness.Run("Nystrom: .NET-only mistakes get .NET argument exceptions", NystromArgumentErrors);
            harness.Run("Nystrom: ObjectDisposedException after Dispose; Dispose twice is fine", NystromDisposed);
        }

        // ---- references ------------------------------------------------------------------

        // Phi(Y) = K(Y, L) · M in double, from the definition.
        private static double[] NystromReference(
            double[] y, int rows, int d, double[] landmarks, double[] normaliser, int m, double gamma)
        {
            double[] k = RbfKernel(y, rows, landmarks, m, d, gamma);
            var phi = new double[rows * m];
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < m; j++)
                {
                    double sum = 0.0;
                    for (int c = 0; c < m; c++)
                    {
                        sum += k[i * m + c] * normaliser[c * m + j];
                    }
                    phi[i * m + j] = sum;
                }
            }
            return phi;
        }

        private static double[] ToDoubles(float[] values)
        {
            return values.Select(v => (double)v).ToArray();
        }

        private static T[] Stack<T>(T[] top, T[] bottom)
        {
            return top.Concat(bottom).ToArray();
        }

        private static NystromOptions Options(int m, double gamma, double ridge = 1e-6, ulong seed = 7,
            LandmarkSelection selection = LandmarkSelection.Uniform, int? threads = null)
        {
            return new NystromOptions
            {
                LandmarkCount = m,
                Gamma = gamma,
                Ridge = ridge,
                Seed = seed,
                Selection = selection,
                Threads = threads,
            };
        }

        // Every landmark is one of the rows of x, bit for bit.
        private static void LandmarksAreRows(double[] landmarks, int m, double[] x, int n, int d, string what)
        {
            var rows = new HashSet<string>();
            for (int i = 0; i < n; i++)
            {
                rows.Add(RowKey(x, i, d));
            }
            for (int j = 0; j < m; j++)
            {
                Assert.True(rows.Contains(RowKey(landmarks, j, d)), what + ": landmark " + j + " is not a row of X");
            }
        }

        private static string RowKey(double[] values, int row, int d)
        {
            return string.Join(",",
                Enumerable.Range(0, d).Select(c => BitConverter.DoubleToInt64Bits(values[row * d + c])));
        }

        private static string TempDir()
        {
            string dir = Path.Combine(Path.GetTempPath(), "helios-cs-nystrom-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            return dir;
        }

        // ---- header and options ------------------------------------------------------------

        private static int Define(string header, string name)
        {
            Match match = Regex.Match(header, "#define " + name + " (\\d+)");
            Assert.True(match.Success, "no " + name + " in the header");
            return int.Parse(match.Groups[1].Value);
        }

        private static void NystromMirrorsHeader()
        {
            string header = Header();
            Assert.Equal(Define(header, "HELIOS_LANDMARKS_UNIFORM"), (int)LandmarkSelection.Uniform, "Uniform");
            Assert.Equal(Define(header, "HELIOS_LANDMARKS_KMEANS_PLUS_PLUS"), (int)LandmarkSelection.KMeansPlusPlus,
                "KMeansPlusPlus");
            Assert.Equal(Define(header, "HELIOS_DTYPE_F32"), (int)NystromPrecision.Single, "Single");
            Assert.Equal(Define(header, "HELIOS_DTYPE_F64"), (int)NystromPrecision.Double, "Double");
            Assert.Equal(2, Enum.GetValues(typeof(LandmarkSelection)).Length, "selections");
            Assert.Equal(2, Enum.GetValues(typeof(NystromPrecision)).Length, "precisions");

            // The struct's fields, in order, as the header declares them.
            int start = header.IndexOf("typedef struct HeliosNystromOptions {", StringComparison.Ordinal);
            int end = header.IndexOf("} HeliosNystromOptions;", start, StringComparison.Ordinal);
            Assert.True(start >= 0 && end > start, "HeliosNystromOptions not found in the header");
            string fields = string.Join(" ", Regex.Matches(header.Substring(start, end - start),
                "^\\s*(\\w+) (\\w+);", RegexOptions.Multiline).Cast<Match>().Select(m => m.Groups[1].Value + ":"
                + m.Groups[2].Value));
            Assert.Equal("size_t:struct_size double:gamma double:ridge size_t:landmark_count int32_t:selection "
                + "uint64_t:seed size_t:threads", fields, "HeliosNystromOptions fields");
            // The binding's struct is the size helios expects.
            Native.NystromOptionsRaw defaults = Native.helios_nystrom_default_options();
            Assert.Equal((ulong)Marshal.SizeOf<Native.NystromOptionsRaw>(), defaults.StructSize.ToUInt64(),
                "struct_size");
        }

        private static void NystromOptionsRoundTrip()
        {
            var defaults = new NystromOptions();
            Assert.Equal(1.0, defaults.Gamma, "default Gamma");
            Assert.Equal(1e-6, defaults.Ridge, "default Ridge");
            Assert.Equal(256, defaults.LandmarkCount, "default LandmarkCount");
            Assert.Equal(LandmarkSelection.Uniform, defaults.Selection, "default Selection");
            Assert.Equal(0UL, defaults.Seed, "default Seed");
            Assert.Equal(null, defaults.Threads, "default Threads");
            // The header states the same defaults in words.
            Assert.Contains("gamma 1, ridge 1e-6, 256 uniform landmarks, seed 0", Header(), "header defaults");

            var options = Options(12, 0.25, ridge: 0.5, seed: ulong.MaxValue,
                selection: LandmarkSelection.KMeansPlusPlus, threads: 3);
            using (var engine = new NystromEngine(options, NystromPrecision.Single))
            {
                NystromOptions back = engine.Options;
                Assert.Equal(0.25, back.Gamma, "Gamma");
                Assert.Equal(0.5, back.Ridge, "Ridge");
                Assert.Equal(12, back.LandmarkCount, "LandmarkCount");
                Assert.Equal(LandmarkSelection.KMeansPlusPlus, back.Selection, "Selection");
                Assert.Equal(ulong.MaxValue, back.Seed, "Seed");
                Assert.Equal((int?)3, back.Threads, "Threads");
                Assert.Equal(NystromPrecision.Single, engine.Precision, "Precision");
                Assert.Equal(12, engine.LandmarkCount, "engine.LandmarkCount");
                Assert.Equal(0, engine.Dim, "Dim before Build");
                Assert.True(!engine.IsBuilt, "not built");
                engine.Threads = null;
                Assert.Equal(null, engine.Threads, "Threads = null");
                engine.Threads = 2;
                Assert.Equal((int?)2, engine.Threads, "Threads = 2");
                // The options object was copied: changing it changes nothing.
                options.Gamma = 9.0;
                Assert.Equal(0.25, engine.Options.Gamma, "Gamma after changing the options object");
            }
            using (NystromEngine engine = NystromEngine.Create<double>())
            {
                Assert.Equal(NystromPrecision.Double, engine.Precision, "Create<double>");
                Assert.Equal(256, engine.LandmarkCount, "null options are the defaults");
            }
            using (NystromEngine engine = NystromEngine.Create<float>(Options(3, 1.0)))
            {
                Assert.Equal(NystromPrecision.Single, engine.Precision, "Create<float>");
            }
        }

        // ---- against references ----------------------------------------------------------

        private static void NystromDoubleReference()
        {
            const int n = 300, d = 4, m = 40, rows = 60;
            const double gamma = 0.4;
            double[] x = RandomPoints(n, d, 1.5, 101);
            double[] y = RandomPoints(rows, d, 1.8, 102);
            foreach (LandmarkSelection selection in s_selections)
            {
                string what = selection.ToString();
                using (var engine = new NystromEngine(Options(m, gamma, ridge: 1e-6, selection: selection),
                    NystromPrecision.Double))
                {
                    double[] phiX = engine.Build(x, n, d);
                    Assert.True(engine.IsBuilt, what + ": built");
                    Assert.Equal(d, engine.Dim, what + ": Dim");
                    double[] landmarks = engine.GetLandmarks<double>();
                    double[] normaliser = engine.GetNormaliser<double>();
                    Assert.Equal(m * d, landmarks.Length, what + ": landmarks length");
                    Assert.Equal(m * m, normaliser.Length, what + ": normaliser length");
                    Assert.BitIdentical(landmarks, engine.Landmarks, what + ": Landmarks property");
                    Assert.BitIdentical(normaliser, engine.Normaliser, what + ": Normaliser property");
                    LandmarksAreRows(landmarks, m, x, n, d, what);
                    for (int i = 0; i < m; i++)
                    {
                        for (int j = 0; j < i; j++)
                        {
                            Assert.True(Math.Abs(normaliser[i * m + j] - normaliser[j * m + i]) <= 1e-9 * Math.Abs(
                                normaliser[i * m + i]), what + ": the normaliser is not symmetric at " + i + ", " + j);
                        }
                    }
                    Close(NystromReference(y, rows, d, landmarks, normaliser, m, gamma), engine.Transform(y, rows, d),
                        1e-9, what + ": Transform(Y)");
                    Close(NystromReference(x, n, d, landmarks, normaliser, m, gamma), phiX, 1e-9, what + ": Build(X)");
                    // Build's output is Transform of the same rows, bit for bit.
                    Assert.BitIdentical(engine.Transform(x, n, d), phiX, what + ": Build equals Transform");
                    // And Phi Phiᵀ approximates K: exactly on the landmarks (up to the ridge).
                    double[] phiL = engine.Transform(landmarks, m, d);
                    Close(RbfKernel(landmarks, m, landmarks, m, d, gamma), TimesTransposed(phiL, m, phiL, m, m), 1e-4,
                        what + ": Phi(L) Phi(L)ᵀ against K(L, L)");
                }
            }
        }

        private static void NystromFloatReference()
        {
            const int n = 200, d = 3, m = 20, rows = 50;
            const double gamma = 0.6;
            float[] x = ToFloats(RandomPoints(n, d, 1.0, 103));
            float[] y = ToFloats(RandomPoints(rows, d, 1.2, 104));
            using (var engine = new NystromEngine(Options(m, gamma, ridge: 1e-3), NystromPrecision.Single))
            {
                float[] phiX = engine.Build(x, n, d);
                float[] landmarks = engine.GetLandmarks<float>();
                float[] normaliser = engine.GetNormaliser<float>();
                Assert.BitIdentical(ToDoubles(landmarks), engine.Landmarks, "Landmarks widened");
                Assert.BitIdentical(ToDoubles(normaliser), engine.Normaliser, "Normaliser widened");
                LandmarksAreRows(ToDoubles(landmarks), m, ToDoubles(x), n, d, "float");
                double[] reference = NystromReference(
                    ToDoubles(y), rows, d, ToDoubles(landmarks), ToDoubles(normaliser), m, gamma);
                Close(reference, ToDoubles(engine.Transform(y, rows, d)), 1e-4, "float Transform(Y)");
                Close(NystromReference(ToDoubles(x), n, d, ToDoubles(landmarks), ToDoubles(normaliser), m, gamma),
                    ToDoubles(phiX), 1e-4, "float Build(X)");
            }
        }

        // m = 1, ridge 0: K(L, L) = [1], so M = [1] and Phi(x) = k(x, l), worked
        // out here for the one landmark, which must be a row of X.
        private static void NystromOneLandmark()
        {
            double[] x =
            {
                0.0, 0.0, 0.0,
                1.0, 0.0, 0.0,
                0.0, 2.0, 0.0,
                1.0, 1.0, 1.0,
                -1.0, 0.5, 0.25,
            };
            const int n = 5, d = 3;
            const double gamma = 0.5;
            foreach (ulong seed in new ulong[] { 0, 1, 2, 3, 4, 5 })
            {
                using (var engine = new NystromEngine(Options(1, gamma, ridge: 0.0, seed: seed),
                    NystromPrecision.Double))
                {
                    double[] phi = engine.Build(x, n, d);
                    double[] l = engine.Landmarks;
                    LandmarksAreRows(l, 1, x, n, d, "seed " + seed);
                    double[] normaliser = engine.Normaliser;
                    Assert.Equal(1, normaliser.Length, "seed " + seed + ": one normaliser entry");
                    Assert.BitIdentical(new[] { 1.0 }, normaliser, "seed " + seed + ": the normaliser");
                    for (int i = 0; i < n; i++)
                    {
                        double squared = 0.0;
                        for (int c = 0; c < d; c++)
                        {
                            squared += (x[i * d + c] - l[c]) * (x[i * d + c] - l[c]);
                        }
                        // Exact with the same libm exp (as on Linux); one ulp allows another.
                        double expected = Math.Exp(-gamma * squared);
                        double ulp = BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(expected) + 1)
                            - expected;
                        Assert.True(Math.Abs(phi[i] - expected) <= ulp, "seed " + seed + ": Phi(x_" + i + ") is "
                            + phi[i].ToString("R") + " but exp(-gamma ||x - l||²) is " + expected.ToString("R"));
                    }
                    double[] own = engine.Transform(l, 1, d);
                    Assert.BitIdentical(new[] { 1.0 }, own, "seed " + seed + ": Phi(l)");
                }
            }
        }

        private static void NystromUpdateEqualsTransform()
        {
            const int n1 = 120, n2 = 45, d = 5, m = 16;
            double[] x1 = RandomPoints(n1, d, 1.0, 105);
            double[] x2 = RandomPoints(n2, d, 1.3, 106);
            using (var engine = new NystromEngine(Options(m, 0.3), NystromPrecision.Double))
            {
                double[] phi1 = engine.Build(x1, n1, d);
                double[] updated = engine.Update(x2, n2, d, phi1);
                Assert.BitIdentical(engine.Transform(Stack(x1, x2), n1 + n2, d), updated, "double Update");
                // Updating again appends again.
                double[] twice = engine.Update(x1, n1, d, updated);
                Assert.BitIdentical(engine.Transform(Stack(Stack(x1, x2), x1), n1 + n2 + n1, d), twice,
                    "double Update twice");
            }
            float[] f1 = ToFloats(x1);
            float[] f2 = ToFloats(x2);
            using (var engine = new NystromEngine(Options(m, 0.3), NystromPrecision.Single))
            {
                float[] phi1 = engine.Build(f1, n1, d);
                Assert.BitIdentical(engine.Transform(Stack(f1, f2), n1 + n2, d), engine.Update(f2, n2, d, phi1),
                    "float Update");
            }
            // A stream of single rows: each one-row update gives the bits the row gets in a batch.
            using (var engine = new NystromEngine(Options(m, 0.3), NystromPrecision.Double))
            {
                double[] phi = engine.Build(x1, n1, d);
                for (int i = 0; i < 3; i++)
                {
                    phi = engine.Update(new ReadOnlySpan<double>(x2, i * d, d), 1, d, phi);
                }
                double[] stacked = Stack(x1, x2.Take(3 * d).ToArray());
                Assert.BitIdentical(engine.Transform(stacked, n1 + 3, d), phi, "double Update one row at a time");
            }
        }

        private static void NystromUpdateInPlace()
        {
            const int n1 = 70, n2 = 30, d = 3, m = 8, usedRows = 5, spareRows = 4;
            const double sentinel = -7777.25;
            double[] x1 = RandomPoints(n1, d, 1.0, 107);
            double[] x2 = RandomPoints(n2, d, 1.0, 108);
            using (var engine = new NystromEngine(Options(m, 0.7), NystromPrecision.Double))
            {
                engine.Build(x1, n1, d);
                double[] expected = engine.Transform(x2, n2, d);
                // The used rows hold sentinels, not an embedding: helios must not
                // read or write them, nor the spare room after the new rows.
                var buffer = Enumerable.Repeat(sentinel, (usedRows + n2 + spareRows) * m).ToArray();
                int rowsNow = engine.UpdateInPlace(x2, n2, d, buffer, usedRows);
                Assert.Equal(usedRows + n2, rowsNow, "the new row count");
                var reference = Enumerable.Repeat(sentinel, buffer.Length).ToArray();
                Array.Copy(expected, 0, reference, usedRows * m, expected.Length);
                Assert.BitIdentical(reference, buffer, "buffer after UpdateInPlace");

                // No room for 30 more rows (4 spare): BufferTooSmall, nothing written.
                double[] before = (double[])buffer.Clone();
                Assert.Helios(Status.BufferTooSmall, "",
                    () => engine.UpdateInPlace(x2, n2, d, buffer, rowsNow), "no room");
                Assert.BitIdentical(before, buffer, "buffer after a refused UpdateInPlace");

                // A span view: the new rows land in the slice, the rest is untouched.
                int rowsAfter = engine.UpdateInPlace(x2.AsSpan(0, 2 * d), 2, d, buffer.AsSpan(0, (rowsNow + 2) * m),
                    rowsNow);
                Assert.Equal(rowsNow + 2, rowsAfter, "row count after the span call");
                Array.Copy(expected, 0, reference, rowsNow * m, 2 * m);
                Assert.BitIdentical(reference, buffer, "buffer after the span call");
            }
            using (var engine = new NystromEngine(Options(m, 0.7), NystromPrecision.Single))
            {
                float[] f1 = ToFloats(x1);
                float[] f2 = ToFloats(x2);
                float[] phi1 = engine.Build(f1, n1, d);
                var buffer = Enumerable.Repeat((float)sentinel, (n1 + n2 + spareRows) * m).ToArray();
                Array.Copy(phi1, buffer, phi1.Length);
                Assert.Equal(n1 + n2, engine.UpdateInPlace(f2, n2, d, buffer, n1), "float row count");
                float[] reference = Stack(engine.Transform(Stack(f1, f2), n1 + n2, d),
                    Enumerable.Repeat((float)sentinel, spareRows * m).ToArray());
                Assert.BitIdentical(reference, buffer, "float buffer after UpdateInPlace");
            }
        }

        private static void NystromSpansAndEmpty()
        {
            const int n = 40, d = 2, m = 6;
            double[] x = RandomPoints(n, d, 1.0, 109);
            using (var engine = new NystromEngine(Options(m, 1.0), NystromPrecision.Double))
            {
                // Build into a longer span: the tail is left as it is.
                var output = Enumerable.Repeat(-1.0, n * m + 3).ToArray();
                engine.Build(x, n, d, output);
                double[] phi = engine.Transform(x, n, d);
                Assert.BitIdentical(Stack(phi, new[] { -1.0, -1.0, -1.0 }), output, "Build into a longer span");
                // Transform of a slice into a stackalloc'd span equals the array
                // overload on a copy of the same row.
                Span<double> row = stackalloc double[m];
                engine.Transform(x.AsSpan(3 * d, d), 1, d, row);
                Assert.BitIdentical(engine.Transform(x.Skip(3 * d).Take(d).ToArray(), 1, d), row.ToArray(),
                    "Transform of row 3");
                // No old rows: Update is Transform (the old-rows pointer is NULL).
                double[] first5 = engine.Transform(x.AsSpan(0, 5 * d), 5, d);
                Assert.BitIdentical(first5, engine.Update(x.AsSpan(0, 5 * d), 5, d, ReadOnlySpan<double>.Empty),
                    "Update with no old rows");
                // An empty buffer with room: UpdateInPlace from row 0.
                var buffer = new double[5 * m];
                Assert.Equal(5, engine.UpdateInPlace(x.AsSpan(0, 5 * d), 5, d, buffer, 0), "UpdateInPlace from 0");
                Assert.BitIdentical(first5, buffer, "UpdateInPlace from row 0");
            }
        }

        private static void NystromThreadsDeterminism()
        {
            const int n = 1100, d = 6, m = 48, rows = 700;
            double[] x = RandomPoints(n, d, 2.0, 110);
            double[] y = RandomPoints(rows, d, 2.0, 111);
            foreach (LandmarkSelection selection in s_selections)
            {
                double[] refBuild = null, refTransform = null, refLandmarks = null, refNormaliser = null;
                foreach (int threads in new[] { 1, 2, 3 })
                {
                    string what = selection + ", threads " + threads;
                    using (var engine = new NystromEngine(Options(m, 0.2, selection: selection, threads: threads),
                        NystromPrecision.Double))
                    {
                        double[] build = engine.Build(x, n, d);
                        double[] transform = engine.Transform(y, rows, d);
                        if (refBuild == null)
                        {
                            refBuild = build;
                            refTransform = transform;
                            refLandmarks = engine.Landmarks;
                            refNormaliser = engine.Normaliser;
                            continue;
                        }
                        Assert.BitIdentical(refBuild, build, what + ": Build");
                        Assert.BitIdentical(refTransform, transform, what + ": Transform");
                        Assert.BitIdentical(refLandmarks, engine.Landmarks, what + ": Landmarks");
                        Assert.BitIdentical(refNormaliser, engine.Normaliser, what + ": Normaliser");
                        // Changing the count of a built engine changes no bit either.
                        engine.Threads = 4 - threads;
                        Assert.BitIdentical(refTransform, engine.Transform(y, rows, d), what + ": Threads changed");
                    }
                }
            }
            float[] xf = ToFloats(x);
            float[] reference = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using (var engine = new NystromEngine(Options(m, 0.2, threads: threads), NystromPrecision.Single))
                {
                    float[] build = engine.Build(xf, n, d);
                    if (reference == null)
                    {
                        reference = build;
                    }
                    Assert.BitIdentical(reference, build, "float, threads " + threads);
                }
            }
        }

        // ---- persistence -----------------------------------------------------------------

        private static void NystromPersistenceRoundTrip()
        {
            const int n = 90, d = 4, m = 10;
            double[] x = RandomPoints(n, d, 1.0, 112);
            double[] y = RandomPoints(25, d, 1.0, 113);
            string dir = TempDir();
            try
            {
                foreach (NystromPrecision precision in new[] { NystromPrecision.Single, NystromPrecision.Double })
                {
                    var options = Options(m, 0.9, ridge: 1e-4, seed: 42, selection: LandmarkSelection.KMeansPlusPlus,
                        threads: 2);
                    using (var engine = new NystromEngine(options, precision))
                    {
                        string path = Path.Combine(dir, precision + " engine ü.bin");
                        if (precision == NystromPrecision.Single)
                        {
                            engine.Build(ToFloats(x), n, d);
                        }
                        else
                        {
                            engine.Build(x, n, d);
                        }
                        engine.Save(path);
                        byte[] bytes = engine.ToBytes();
                        Assert.BitIdentical(bytes.Select(b => (double)b).ToArray(),
                            File.ReadAllBytes(path).Select(b => (double)b).ToArray(), precision + ": file and bytes");
                        using (NystromEngine loaded = NystromEngine.Load(path))
                        using (NystromEngine copied = NystromEngine.FromBytes(bytes))
                        {
                            foreach (NystromEngine other in new[] { loaded, copied })
                            {
                                string what = precision + ", " + (other == loaded ? "Load" : "FromBytes");
                                Assert.Equal(precision, other.Precision, what + ": Precision");
                                Assert.Equal(m, other.LandmarkCount, what + ": LandmarkCount");
                                Assert.Equal(d, other.Dim, what + ": Dim");
                                Assert.True(other.IsBuilt, what + ": built");
                                NystromOptions back = other.Options;
                                Assert.Equal(0.9, back.Gamma, what + ": Gamma");
                                Assert.Equal(1e-4, back.Ridge, what + ": Ridge");
                                Assert.Equal(42UL, back.Seed, what + ": Seed");
                                Assert.Equal(LandmarkSelection.KMeansPlusPlus, back.Selection, what + ": Selection");
                                Assert.Equal(null, back.Threads, what + ": Threads");
                                Assert.BitIdentical(engine.Landmarks, other.Landmarks, what + ": Landmarks");
                                Assert.BitIdentical(engine.Normaliser, other.Normaliser, what + ": Normaliser");
                                if (precision == NystromPrecision.Single)
                                {
                                    Assert.BitIdentical(engine.Transform(ToFloats(y), 25, d),
                                        other.Transform(ToFloats(y), 25, d), what + ": Transform");
                                }
                                else
                                {
                                    Assert.BitIdentical(engine.Transform(y, 25, d), other.Transform(y, 25, d),
                                        what + ": Transform");
                                }
                                Assert.True(other.ToBytes().SequenceEqual(bytes), what + ": ToBytes again");
                            }
                        }
                        // Saving over an existing file replaces it.
                        engine.Save(path);
                        Assert.True(File.ReadAllBytes(path).SequenceEqual(bytes), precision + ": saved twice");
                    }
                }
                // A relative path is relative to the current directory.
                string previous = Directory.GetCurrentDirectory();
                Directory.SetCurrentDirectory(dir);
                try
                {
                    using (var engine = new NystromEngine(Options(m, 0.9), NystromPrecision.Double))
                    {
                        engine.Build(x, n, d);
                        engine.Save("relative.bin");
                    }
                }
                finally
                {
                    Directory.SetCurrentDirectory(previous);
                }
                Assert.True(File.Exists(Path.Combine(dir, "relative.bin")), "relative path");
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        private static void NystromCorruptInput()
        {
            const int n = 30, d = 3, m = 5;
            string dir = TempDir();
            try
            {
                byte[] bytes;
                using (var engine = new NystromEngine(Options(m, 1.0), NystromPrecision.Double))
                {
                    engine.Build(RandomPoints(n, d, 1.0, 114), n, d);
                    bytes = engine.ToBytes();
                }
                string path = Path.Combine(dir, "engine.bin");

                // Every truncation, as bytes; a few as files.
                for (int length = 0; length < bytes.Length; length++)
                {
                    byte[] truncated = bytes.Take(length).ToArray();
                    Assert.Helios(Status.Format, "", () => NystromEngine.FromBytes(truncated).Dispose(),
                        "FromBytes of " + length + " of " + bytes.Length + " bytes");
                    if (length == 0 || length == 7 || length == bytes.Length / 2 || length == bytes.Length - 1)
                    {
                        File.WriteAllBytes(path, truncated);
                        Assert.Helios(Status.Format, "", () => NystromEngine.Load(path).Dispose(),
                            "Load of " + length + " of " + bytes.Length + " bytes");
                    }
                }

                // Every flipped byte, as bytes; a few as files.
                for (int position = 0; position < bytes.Length; position++)
                {
                    byte[] flipped = (byte[])bytes.Clone();
                    flipped[position] ^= 0x10;
                    Assert.Helios(Status.Format, "", () => NystromEngine.FromBytes(flipped).Dispose(),
                        "FromBytes with byte " + position + " of " + bytes.Length + " flipped");
                    if (position == 0 || position == bytes.Length / 2 || position == bytes.Length - 1)
                    {
                        File.WriteAllBytes(path, flipped);
                        Assert.Helios(Status.Format, "", () => NystromEngine.Load(path).Dispose(),
                            "Load with byte " + position + " flipped");
                    }
                }

                // A longer buffer (trailing garbage) and a file that is no engine at all.
                Assert.Helios(Status.Format, "",
                    () => NystromEngine.FromBytes(Stack(bytes, new byte[] { 0 })).Dispose(), "a trailing byte");
                File.WriteAllText(path, "not an engine");
                Assert.Helios(Status.Format, "", () => NystromEngine.Load(path).Dispose(), "a text file");

                // Missing file, and a folder: Io.
                Assert.Helios(Status.Io, "", () => NystromEngine.Load(Path.Combine(dir, "missing.bin")).Dispose(),
                    "a missing file");
                Assert.Helios(Status.Io, "", () => NystromEngine.Load(dir).Dispose(), "a folder");

                // The original bytes still load.
                NystromEngine.FromBytes(bytes).Dispose();
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        // ---- threads and lifetime -----------------------------------------------------------

        private static void NystromConcurrentCallers()
        {
            const int n = 600, d = 8, m = 64, rows = 400;
            double[] x = RandomPoints(n, d, 1.0, 115);
            double[] y = RandomPoints(rows, d, 1.0, 116);
            using (var engine = new NystromEngine(Options(m, 0.3), NystromPrecision.Double))
            {
                double[] phi = engine.Build(x, n, d);
                double[] transformed = engine.Transform(y, rows, d);
                double[] updated = engine.Update(y, rows, d, phi);
                int busy = 0, succeeded = 0, rounds = 0;
                // Rounds of 2 x 30 calls until two calls met (almost always in the first).
                for (; rounds < 20 && busy == 0; rounds++)
                {
                    OnThreads(2, t =>
                    {
                        for (int i = 0; i < 30; i++)
                        {
                            try
                            {
                                if ((t + i) % 2 == 0)
                                {
                                    Assert.BitIdentical(transformed, engine.Transform(y, rows, d),
                                        "concurrent Transform");
                                }
                                else
                                {
                                    Assert.BitIdentical(updated, engine.Update(y, rows, d, phi), "concurrent Update");
                                }
                                Interlocked.Increment(ref succeeded);
                            }
                            catch (HeliosException e) when (e.Status == Status.Busy)
                            {
                                Assert.Contains("in use", e.Message, "the Busy message");
                                Interlocked.Increment(ref busy);
                            }
                        }
                    });
                }
                Assert.Equal(rounds * 60, busy + succeeded, "calls");
                Assert.True(succeeded > 0, "no call succeeded");
                Assert.True(busy > 0, "no call got Busy in " + rounds + " rounds");
                // The engine is as it was.
                Assert.BitIdentical(transformed, engine.Transform(y, rows, d), "Transform afterwards");
                Assert.BitIdentical(phi, engine.Transform(x, n, d), "Transform of X afterwards");
            }
        }

        private static void NystromDisposeDuringCall()
        {
            const int n = 400, d = 16, m = 128, rows = 20000;
            double[] x = RandomPoints(n, d, 1.0, 117);
            double[] y = RandomPoints(rows, d, 1.0, 118);
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var engine = new NystromEngine(Options(m, 0.1, threads: 1), NystromPrecision.Double);
                engine.Build(x, n, d);
                double[] expected = engine.Transform(y.AsSpan(0, 10 * d), 10, d);
                OnThreads(2, t =>
                {
                    if (t == 0)
                    {
                        try
                        {
                            // Either it entered before the Dispose and finishes
                            // with the right bits, or it finds the engine disposed.
                            double[] phi = engine.Transform(y, rows, d);
                            Assert.BitIdentical(expected, phi.Take(10 * m).ToArray(), "the call that ran");
                        }
                        catch (ObjectDisposedException)
                        {
                        }
                    }
                    else
                    {
                        Thread.Sleep(attempt * 5);
                        engine.Dispose();
                    }
                });
                Assert.Throws<ObjectDisposedException>(() => engine.Transform(y, 1, d), "after Dispose");
            }
        }

        // ---- errors ----------------------------------------------------------------------

        private static void NystromHeliosErrors()
        {
            const int n = 20, d = 3, m = 4;
            double[] x = RandomPoints(n, d, 1.0, 119);

            // Options helios refuses.
            foreach (double gamma in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity })
            {
                Assert.Helios(Status.InvalidArgument, "gamma",
                    () => new NystromEngine(Options(m, gamma), NystromPrecision.Double), "gamma " + gamma);
            }
            foreach (double ridge in new[] { -1e-9, double.NaN, double.PositiveInfinity })
            {
                Assert.Helios(Status.InvalidArgument, "ridge",
                    () => new NystromEngine(Options(m, 1.0, ridge: ridge), NystromPrecision.Double), "ridge " + ridge);
            }
            Assert.Helios(Status.InvalidArgument, "landmark_count",
                () => new NystromEngine(Options(0, 1.0), NystromPrecision.Double), "LandmarkCount 0");
            Assert.Helios(Status.InvalidArgument, "thread",
                () => new NystromEngine(Options(m, 1.0, threads: 0), NystromPrecision.Double), "Threads 0");
            Assert.Helios(Status.InvalidArgument, "thread",
                () => new NystromEngine(Options(m, 1.0, threads: 1025), NystromPrecision.Double), "Threads 1025");
            var badSelection = Options(m, 1.0);
            badSelection.Selection = (LandmarkSelection)9;
            Assert.Helios(Status.InvalidArgument, "selection",
                () => new NystromEngine(badSelection, NystromPrecision.Double), "selection 9");
            Assert.Helios(Status.InvalidArgument, "dtype",
                () => new NystromEngine(Options(m, 1.0), (NystromPrecision)7), "precision 7");

            using (var engine = new NystromEngine(Options(m, 1.0), NystromPrecision.Double))
            {
                // Before Build: InvalidState for everything but Build.
                Assert.Helios(Status.InvalidState, "not built", () => engine.Transform(x, n, d), "Transform");
                Assert.Helios(Status.InvalidState, "not built", () => engine.Update(x, n, d, new double[0]), "Update");
                Assert.Helios(Status.InvalidState, "not built",
                    () => engine.UpdateInPlace(x, n, d, new double[n * m], 0), "UpdateInPlace");
                Assert.Helios(Status.InvalidState, "not built", () => engine.Landmarks.ToString(), "Landmarks");
                Assert.Helios(Status.InvalidState, "not built", () => engine.GetNormaliser<double>(), "Normaliser");
                Assert.Helios(Status.InvalidState, "not built", () => engine.ToBytes(), "ToBytes");
                Assert.Helios(Status.InvalidState, "not built",
                    () => engine.Save(Path.Combine(Path.GetTempPath(), "helios-never-written.bin")), "Save");

                // Build refusals leave the engine unbuilt.
                Assert.Helios(Status.InvalidArgument, "", () => engine.Build(new double[0], 0, d), "zero rows");
                Assert.Helios(Status.InvalidArgument, "", () => engine.Build(new double[0], n, 0), "zero cols");
                Assert.Helios(Status.InvalidArgument, "", () => engine.Build(x.AsSpan(0, 3 * d), 3, d),
                    "3 rows for 4 landmarks");
                double[] withNaN = (double[])x.Clone();
                withNaN[7 * d + 1] = double.NaN;
                Assert.Helios(Status.Numeric, "row 7", () => engine.Build(withNaN, n, d), "NaN in row 7");
                Assert.True(!engine.IsBuilt, "refused builds leave the engine unbuilt");

                double[] phi = engine.Build(x, n, d);
                // A refused call changes nothing.
                Assert.Helios(Status.Numeric, "row 7", () => engine.Build(withNaN, n, d), "NaN after a build");
                double[] withInfinity = (double[])x.Clone();
                withInfinity[2 * d] = double.NegativeInfinity;
                Assert.Helios(Status.Numeric, "row 2", () => engine.Transform(withInfinity, n, d), "-Inf in Transform");
                Assert.Helios(Status.Numeric, "row 2", () => engine.Update(withInfinity, n, d, phi), "-Inf in Update");
                Assert.Helios(Status.InvalidArgument, "", () => engine.Transform(new double[n * 2], n, 2), "2 columns");
                Assert.Helios(Status.InvalidArgument, "", () => engine.Update(new double[n * 4], n, 4, phi),
                    "4 columns in Update");
                Assert.Helios(Status.BufferTooSmall, "", () => engine.Transform(x, n, d, new double[n * m - 1]),
                    "an output one short");
                Assert.BitIdentical(phi, engine.Transform(x, n, d), "the engine after refused calls");

                // Files: an empty path, a path with a NUL, a folder that does not exist.
                Assert.Helios(Status.InvalidArgument, "", () => engine.Save(""), "empty path");
                Assert.Helios(Status.InvalidArgument, "", () => engine.Save("a\0b"), "NUL in the path");
                Assert.Helios(Status.Io, "", () => engine.Save(Path.Combine(Path.GetTempPath(),
                    "helios-no-such-dir-" + Guid.NewGuid().ToString("N"), "engine.bin")), "missing folder");
                Assert.Helios(Status.InvalidArgument, "", () => NystromEngine.Load("").Dispose(),
                    "Load of an empty path");
            }
        }

        private static void NystromWrongElementType()
        {
            const int n = 20, d = 3, m = 4;
            double[] x = RandomPoints(n, d, 1.0, 120);
            using (var engine = new NystromEngine(Options(m, 1.0), NystromPrecision.Single))
            {
                Assert.Helios(Status.InvalidArgument, "float", () => engine.Build(x, n, d),
                    "double Build, float engine");
                Assert.True(!engine.IsBuilt, "not built by the refused call");
                float[] phi = engine.Build(ToFloats(x), n, d);
                Assert.Helios(Status.InvalidArgument, "float", () => engine.Transform(x, n, d), "double Transform");
                Assert.Helios(Status.InvalidArgument, "float", () => engine.Update(x, n, d, new double[0]),
                    "double Update");
                Assert.Helios(Status.InvalidArgument, "float",
                    () => engine.UpdateInPlace(x, n, d, new double[n * m], 0), "double UpdateInPlace");
                Assert.Helios(Status.InvalidArgument, "float", () => engine.GetLandmarks<double>(),
                    "GetLandmarks<double>");
                Assert.Helios(Status.InvalidArgument, "float", () => engine.GetNormaliser<double>(),
                    "GetNormaliser<double>");
                Assert.BitIdentical(phi, engine.Transform(ToFloats(x), n, d), "the float engine still works");
            }
            using (var engine = new NystromEngine(Options(m, 1.0), NystromPrecision.Double))
            {
                Assert.Helios(Status.InvalidArgument, "double", () => engine.Build(ToFloats(x), n, d),
                    "float Build, double engine");
                engine.Build(x, n, d);
                Assert.Helios(Status.InvalidArgument, "double", () => engine.GetLandmarks<float>(),
                    "GetLandmarks<float>");
                Assert.Throws<NotSupportedException>(() => engine.GetLandmarks<int>(), "GetLandmarks<int>");
            }
            Assert.Throws<NotSupportedException>(() => NystromEngine.Create<decimal>(), "Create<decimal>");
        }

        private static void NystromArgumentErrors()
        {
            const int n = 20, d = 3, m = 4;
            double[] x = RandomPoints(n, d, 1.0, 121);
            var options = new NystromOptions();
            Assert.Equal("value", Assert.Throws<ArgumentOutOfRangeException>(
                () => options.LandmarkCount = -1, "LandmarkCount -1").ParamName, "ParamName");
            Assert.Equal("value", Assert.Throws<ArgumentOutOfRangeException>(
                () => options.Threads = -1, "Threads -1").ParamName, "ParamName");
            using (var engine = new NystromEngine(Options(m, 1.0), NystromPrecision.Double))
            {
                // x must hold exactly rows·cols elements.
                Assert.Equal("x", Assert.Throws<ArgumentException>(
                    () => engine.Build(x, n + 1, d), "a span one row short").ParamName, "ParamName");
                Assert.Equal("x", Assert.Throws<ArgumentException>(
                    () => engine.Build(x.AsSpan(0, n * d - 1), n, d), "a span one element short").ParamName,
                    "ParamName");
                Assert.Equal("x", Assert.Throws<ArgumentException>(
                    () => engine.Build(x, n - 1, d), "a span one row long").ParamName, "ParamName");
                Assert.Equal("rows", Assert.Throws<ArgumentOutOfRangeException>(
                    () => engine.Build(x, -1, d), "rows -1").ParamName, "ParamName");
                Assert.Equal("cols", Assert.Throws<ArgumentOutOfRangeException>(
                    () => engine.Build(x, n, -d), "cols -3").ParamName, "ParamName");
                double[] phi = engine.Build(x, n, d);
                Assert.Equal("x", Assert.Throws<ArgumentException>(
                    () => engine.Transform(x, n + 1, d), "Transform: a span too short").ParamName, "ParamName");
                Assert.Equal("xNew", Assert.Throws<ArgumentException>(
                    () => engine.Update(x, n + 1, d, phi), "Update: a span too short").ParamName, "ParamName");
                Assert.Equal("phiOld", Assert.Throws<ArgumentException>(
                    () => engine.Update(x, n, d, phi.AsSpan(1)), "Update: phiOld not whole rows").ParamName,
                    "ParamName");
                Assert.Equal("xNew", Assert.Throws<ArgumentException>(
                    () => engine.UpdateInPlace(x, n + 1, d, new double[100], 0), "UpdateInPlace: a span too short")
                    .ParamName, "ParamName");
                Assert.Equal("rowsUsed", Assert.Throws<ArgumentOutOfRangeException>(
                    () => engine.UpdateInPlace(x, n, d, new double[1000], -1), "rowsUsed -1").ParamName, "ParamName");
                Assert.Equal("value", Assert.Throws<ArgumentOutOfRangeException>(
                    () => engine.Threads = -2, "Threads = -2").ParamName, "ParamName");
                Assert.Helios(Status.InvalidArgument, "", () => engine.Threads = 0, "Threads = 0");
                Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => engine.Save(null), "Save(null)")
                    .ParamName, "ParamName");
                Assert.Equal("path", Assert.Throws<ArgumentException>(() => engine.Save("bad\ud800.bin"),
                    "a lone surrogate").ParamName, "ParamName");
            }
            Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => NystromEngine.Load(null), "Load(null)")
                .ParamName, "ParamName");
            Assert.Equal("data", Assert.Throws<ArgumentNullException>(() => NystromEngine.FromBytes((byte[])null),
                "FromBytes(null)").ParamName, "ParamName");
        }

        private static void NystromDisposed()
        {
            const int n = 20, d = 3, m = 4;
            double[] x = RandomPoints(n, d, 1.0, 122);
            var engine = new NystromEngine(Options(m, 1.0), NystromPrecision.Double);
            double[] phi = engine.Build(x, n, d);
            engine.Dispose();
            engine.Dispose();
            var calls = new Dictionary<string, Action>
            {
                { "Build", () => engine.Build(x, n, d) },
                { "Build into a span", () => engine.Build(x, n, d, new double[n * m]) },
                { "Transform", () => engine.Transform(x, n, d) },
                { "Update", () => engine.Update(x, n, d, phi) },
                { "UpdateInPlace", () => engine.UpdateInPlace(x, n, d, new double[2 * n * m], n) },
                { "Landmarks", () => engine.Landmarks.ToString() },
                { "Normaliser", () => engine.Normaliser.ToString() },
                { "GetLandmarks", () => engine.GetLandmarks<double>() },
                { "Precision", () => engine.Precision.ToString() },
                { "LandmarkCount", () => engine.LandmarkCount.ToString() },
                { "Dim", () => engine.Dim.ToString() },
                { "IsBuilt", () => engine.IsBuilt.ToString() },
                { "Options", () => engine.Options.ToString() },
                { "Threads", () => engine.Threads.ToString() },
                { "Threads =", () => engine.Threads = 2 },
                { "Save", () => engine.Save(Path.Combine(Path.GetTempPath(), "helios-never-written.bin")) },
                { "ToBytes", () => engine.ToBytes() },
            };
            foreach (KeyValuePair<string, Action> call in calls)
            {
                ObjectDisposedException error = Assert.Throws<ObjectDisposedException>(call.Value, call.Key);
                Assert.Contains("NystromEngine", error.Message, call.Key + " (message)");
            }
        }
    }
}
