// Tests of VectorIndex against independent references: brute-force nearest
// neighbours computed here in double (over the vectors added, or over the
// PQ index's reconstructions for its asymmetric distances), integer-valued
// data whose distances are exact in float so that ids, ties and distances
// must match exactly, the header's constants as text, and the raw bits of
// every result.

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Threading;

namespace Helios.Tests
{
    internal static partial class Program
    {
        private static readonly Metric[] s_metrics = { Metric.L2, Metric.InnerProduct };

        private static void RunIndexTests(Harness harness)
        {
            harness.Run("Index: enums, NoId and the options structs mirror the header", IndexMirrorsHeader);
            harness.Run("Index: factory defaults and properties", IndexProperties);
            harness.Run("Index: flat search equals brute force in double (L2 and inner product)",
                IndexFlatBruteForce);
            harness.Run("Index: flat search on integer data: exact distances, ties to the smaller id",
                IndexFlatExactTies);
            harness.Run("Index: duplicates, k above the count (padding), one vector", IndexDuplicatesAndPadding);
            harness.Run("Index: sequential and explicit ids, remove, reconstruct", IndexIds);
            harness.Run("Index: PQ distances are exact distances to Reconstruct; search is brute force over them",
                IndexPqAsymmetricDistances);
            harness.Run("Index: PQ recall@10 against flat on clustered data", IndexPqRecall);
            harness.Run("Index: PQ train rules (retrain while empty, refused while not)", IndexPqTrainRules);
            harness.Run("Index: bit-identical for 1, 2 and 3 threads, and alone or in a batch",
                IndexThreadsDeterminism);
            harness.Run("Index: float[,] overloads equal the span overloads", IndexRectangularArrays);
            harness.Run("Index: Save/Load and ToBytes/FromBytes keep every bit", IndexPersistenceRoundTrip);
            harness.Run("Index: truncated or corrupt files and bytes are Format, a missing file Io",
                IndexCorruptInput);
            harness.Run("Index: 4 threads search while 1 adds and removes: every result is one writer state",
                IndexConcurrentSearchAndWrite);
            harness.Run("Index: Dispose while other threads search is safe", IndexDisposeDuringSearch);
            harness.Run("Index: helios errors come back as HeliosException", IndexHeliosErrors);
            harness.Run("Index: .NET-only mistakes get .NET argument exceptions", IndexArgumentErrors);
            harness.Run("Index: ObjectDisposedException after Dispose; Dispose twice is fine", IndexDisposed);
        }

        // ---- references ------------------------------------------------------------------

        // Brute-force k nearest neighbours in double over a set of id -> vector.
        private sealed class IndexReference
        {
            private readonly SortedDictionary<ulong, float[]> _vectors = new SortedDictionary<ulong, float[]>();

            public IndexReference(int dim, Metric metric)
            {
                Dim = dim;
                Metric = metric;
            }

            public int Dim { get; }

            public Metric Metric { get; }

            public int Count => _vectors.Count;

            public IndexReference Clone()
            {
                var copy = new IndexReference(Dim, Metric);
                foreach (KeyValuePair<ulong, float[]> pair in _vectors)
                {
                    copy._vectors.Add(pair.Key, pair.Value);
                }
                return copy;
            }

            public void Add(float[] x, int n, IList<ulong> ids)
            {
                for (int i = 0; i < n; i++)
                {
                    _vectors.Add(ids[i], x.Skip(i * Dim).Take(Dim).ToArray());
                }
            }

            public void Remove(IEnumerable<ulong> ids)
            {
                foreach (ulong id in ids)
                {
                    Assert.True(_vectors.Remove(id), "the reference holds no id " + id);
                }
            }

            public float[] Vector(ulong id)
            {
                return _vectors[id];
            }

            // ||q - x||² or q · x in double.
            public double Score(float[] queries, int q, ulong id)
            {
                float[] x = _vectors[id];
                double sum = 0.0;
                for (int c = 0; c < Dim; c++)
                {
                    double a = queries[q * Dim + c], b = x[c];
                    sum += Metric == Metric.L2 ? (a - b) * (a - b) : a * b;
                }
                return sum;
            }

            // ||q||² + ||x||², the scale of the rounding in the distance.
            public double Scale(float[] queries, int q, ulong id)
            {
                float[] x = _vectors[id];
                double sum = 0.0;
                for (int c = 0; c < Dim; c++)
                {
                    double a = queries[q * Dim + c], b = x[c];
                    sum += a * a + b * b;
                }
                return sum;
            }

            // Row q of the k best: (score, id) ordered best first, ties to the
            // smaller id, padded with NoId and an infinity.
            public void Top(float[] queries, int q, int k, out double[] scores, out ulong[] ids)
            {
                var all = _vectors.Keys.Select(id => new KeyValuePair<double, ulong>(Score(queries, q, id), id));
                var ordered = (Metric == Metric.L2
                    ? all.OrderBy(p => p.Key).ThenBy(p => p.Value)
                    : all.OrderByDescending(p => p.Key).ThenBy(p => p.Value)).Take(k).ToList();
                scores = new double[k];
                ids = new ulong[k];
                double padding = Metric == Metric.L2 ? double.PositiveInfinity : double.NegativeInfinity;
                for (int j = 0; j < k; j++)
                {
                    scores[j] = j < ordered.Count ? ordered[j].Key : padding;
                    ids[j] = j < ordered.Count ? ordered[j].Value : VectorIndex.NoId;
                }
            }

            // The hits of every query, as a string of ids and distance bits,
            // for exact comparisons (integer data: every distance is exact).
            public string ExactKey(float[] queries, int nQueries, int k)
            {
                var ids = new ulong[nQueries * k];
                var distances = new float[nQueries * k];
                for (int q = 0; q < nQueries; q++)
                {
                    Top(queries, q, k, out double[] rowScores, out ulong[] rowIds);
                    for (int j = 0; j < k; j++)
                    {
                        ids[q * k + j] = rowIds[j];
                        distances[q * k + j] = (float)rowScores[j];
                    }
                }
                return IndexKey(distances, ids);
            }
        }

        private static string IndexKey(float[] distances, ulong[] ids)
        {
            return string.Join(",", ids) + "|" + string.Join(",", distances.Select(FloatBits));
        }

        private static string IndexKey(SearchResult result)
        {
            return IndexKey(result.Distances, result.Ids);
        }

        private static int FloatBits(float value)
        {
            return BitConverter.ToInt32(BitConverter.GetBytes(value), 0);
        }

        private static ulong[] Sequence(ulong first, int count)
        {
            return Enumerable.Range(0, count).Select(i => first + (ulong)i).ToArray();
        }

        // The search result against the brute-force reference, within
        // `relative` of ||q||² + ||x||²: each hit's distance is its exact
        // distance, and each id is the reference's at that rank or a near tie
        // of it (a distance within the same tolerance). Returns the number of
        // near ties that were let through.
        private static int IndexCheckClose(IndexReference reference, float[] queries, SearchResult result,
            double relative, string what)
        {
            int k = result.K;
            int ties = 0;
            Assert.Equal(result.QueryCount * k, result.Ids.Length, what + ": ids length");
            Assert.Equal(result.QueryCount * k, result.Distances.Length, what + ": distances length");
            for (int q = 0; q < result.QueryCount; q++)
            {
                reference.Top(queries, q, k, out double[] scores, out ulong[] ids);
                var seen = new HashSet<ulong>();
                for (int j = 0; j < k; j++)
                {
                    string at = what + ": query " + q + ", rank " + j;
                    ulong id = result.Ids[q * k + j];
                    float distance = result.Distances[q * k + j];
                    if (ids[j] == VectorIndex.NoId)
                    {
                        Assert.Equal(VectorIndex.NoId, id, at + " (padding id)");
                        Assert.Equal((float)scores[j], distance, at + " (padding distance)");
                        continue;
                    }
                    Assert.True(id != VectorIndex.NoId, at + ": padding where the reference has id " + ids[j]);
                    Assert.True(seen.Add(id), at + ": id " + id + " twice in one row");
                    double exact = reference.Score(queries, q, id);
                    double tolerance = relative * reference.Scale(queries, q, id);
                    Assert.True(Math.Abs(distance - exact) <= tolerance, at + ": id " + id + " has distance "
                        + distance.ToString("R") + " but the exact one is " + exact.ToString("R"));
                    if (id != ids[j])
                    {
                        Assert.True(Math.Abs(exact - scores[j]) <= tolerance, at + ": id " + id + " (exact "
                            + exact.ToString("R") + ") where the reference has id " + ids[j] + " ("
                            + scores[j].ToString("R") + ")");
                        ties++;
                    }
                }
            }
            return ties;
        }

        // Uniform integers in [-range, range]: every distance and inner product
        // of such vectors is an exact small integer in float.
        private static float[] IntegerPoints(int rows, int d, int range, int seed)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, rows * d).Select(_ => (float)random.Next(-range, range + 1)).ToArray();
        }

        // Points around `clusters` centres uniform in [-4, 4]^d with Gaussian
        // noise of standard deviation `noise`; the centres depend on
        // `centreSeed` only, so two calls can draw from the same clusters.
        private static float[] Clustered(int rows, int d, int clusters, double noise, int centreSeed, int seed)
        {
            double[] centres = RandomPoints(clusters, d, 4.0, centreSeed);
            var random = new Random(seed);
            var points = new float[rows * d];
            for (int i = 0; i < rows; i++)
            {
                int c = random.Next(clusters);
                for (int j = 0; j < d; j++)
                {
                    double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
                    double gaussian = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
                    points[i * d + j] = (float)(centres[c * d + j] + noise * gaussian);
                }
            }
            return points;
        }

        private static string IndexTempDir()
        {
            string dir = Path.Combine(Path.GetTempPath(), "helios-cs-index-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            return dir;
        }

        // ---- header and options ------------------------------------------------------------

        private static string StructFields(string header, string name)
        {
            int start = header.IndexOf("typedef struct " + name + " {", StringComparison.Ordinal);
            int end = header.IndexOf("} " + name + ";", Math.Max(start, 0), StringComparison.Ordinal);
            Assert.True(start >= 0 && end > start, name + " not found in the header");
            return string.Join(" ", Regex.Matches(header.Substring(start, end - start),
                "^\\s*(\\w+) (\\w+);", RegexOptions.Multiline).Cast<Match>().Select(m => m.Groups[1].Value + ":"
                + m.Groups[2].Value));
        }

        private static void IndexMirrorsHeader()
        {
            string header = Header();
            Assert.Equal(Define(header, "HELIOS_INDEX_FLAT"), (int)IndexKind.Flat, "Flat");
            Assert.Equal(Define(header, "HELIOS_INDEX_PQ"), (int)IndexKind.ProductQuantized, "ProductQuantized");
            Assert.Equal(Define(header, "HELIOS_METRIC_L2"), (int)Metric.L2, "L2");
            Assert.Equal(Define(header, "HELIOS_METRIC_INNER_PRODUCT"), (int)Metric.InnerProduct, "InnerProduct");
            Assert.Equal(2, Enum.GetValues(typeof(IndexKind)).Length, "kinds");
            Assert.Equal(2, Enum.GetValues(typeof(Metric)).Length, "metrics");
            Match noId = Regex.Match(header, "#define HELIOS_NO_ID (\\d+)ull");
            Assert.True(noId.Success, "no HELIOS_NO_ID in the header");
            Assert.Equal(ulong.Parse(noId.Groups[1].Value), VectorIndex.NoId, "NoId");

            Assert.Equal("size_t:struct_size int32_t:kind int32_t:metric size_t:dim size_t:pq_m uint32_t:pq_nbits "
                + "size_t:train_iterations uint64_t:seed size_t:threads", StructFields(header, "HeliosIndexOptions"),
                "HeliosIndexOptions fields");
            Assert.Equal("size_t:struct_size size_t:threads", StructFields(header, "HeliosSearchOptions"),
                "HeliosSearchOptions fields");
            Native.IndexOptionsRaw defaults = Native.helios_index_default_options();
            Assert.Equal((ulong)Marshal.SizeOf<Native.IndexOptionsRaw>(), defaults.StructSize.ToUInt64(),
                "HeliosIndexOptions struct_size");
            Native.SearchOptionsRaw search = Native.helios_index_default_search_options();
            Assert.Equal((ulong)Marshal.SizeOf<Native.SearchOptionsRaw>(), search.StructSize.ToUInt64(),
                "HeliosSearchOptions struct_size");
            Assert.Equal(Native.Auto, search.Threads, "default search threads");

            // The defaults helios documents, field by field ...
            Assert.Equal((int)IndexKind.Flat, defaults.Kind, "default kind");
            Assert.Equal((int)Metric.L2, defaults.Metric, "default metric");
            Assert.Equal(0UL, defaults.Dim.ToUInt64(), "default dim");
            Assert.Equal(16UL, defaults.PqM.ToUInt64(), "default pq_m");
            Assert.Equal(8u, defaults.PqNbits, "default pq_nbits");
            Assert.Equal(25UL, defaults.TrainIterations.ToUInt64(), "default train_iterations");
            Assert.Equal(0UL, defaults.Seed, "default seed");
            Assert.Equal(Native.Auto, defaults.Threads, "default threads");
            Assert.Contains("M = 16, nbits = 8, 25 iterations, seed 0", header, "header defaults");
            // ... are the C# factories' default arguments.
            Dictionary<string, object> pq = typeof(VectorIndex).GetMethod("Pq").GetParameters()
                .ToDictionary(p => p.Name, p => p.DefaultValue);
            Assert.Equal(defaults.PqM.ToUInt64(), Convert.ToUInt64(pq["m"]), "Pq m default");
            Assert.Equal((ulong)defaults.PqNbits, Convert.ToUInt64(pq["nbits"]), "Pq nbits default");
            Assert.Equal(defaults.TrainIterations.ToUInt64(), Convert.ToUInt64(pq["trainIterations"]),
                "Pq trainIterations default");
            Assert.Equal(defaults.Seed, Convert.ToUInt64(pq["seed"]), "Pq seed default");
            Assert.Equal(defaults.Metric, Convert.ToInt32(pq["metric"]), "Pq metric default");
            Assert.Equal(null, pq["threads"], "Pq threads default (HELIOS_AUTO)");
            ParameterInfo flatMetric = typeof(VectorIndex).GetMethod("Flat").GetParameters()[1];
            Assert.Equal(defaults.Metric, Convert.ToInt32(flatMetric.DefaultValue), "Flat metric default");
        }

        private static void IndexProperties()
        {
            using (VectorIndex flat = VectorIndex.Flat(7))
            {
                Assert.Equal(IndexKind.Flat, flat.Kind, "flat Kind");
                Assert.Equal(Metric.L2, flat.Metric, "flat Metric");
                Assert.Equal(7, flat.Dim, "flat Dim");
                Assert.Equal(0L, flat.Count, "flat Count");
                Assert.True(flat.IsTrained, "a flat index is trained");
                Assert.Equal(null, flat.Threads, "flat Threads");
                flat.Threads = 3;
                Assert.Equal((int?)3, flat.Threads, "Threads = 3");
                flat.Threads = null;
                Assert.Equal(null, flat.Threads, "Threads = null");
                // Training a flat index only checks the vectors.
                flat.Train(new float[14], 2);
                Assert.Equal(0L, flat.Count, "Train adds nothing");
            }
            using (VectorIndex flat = VectorIndex.Flat(3, Metric.InnerProduct, threads: 2))
            {
                Assert.Equal(Metric.InnerProduct, flat.Metric, "IP Metric");
                Assert.Equal((int?)2, flat.Threads, "factory threads");
            }
            using (VectorIndex pq = VectorIndex.Pq(12, m: 4, nbits: 3, metric: Metric.InnerProduct,
                seed: ulong.MaxValue, threads: 1, trainIterations: 7))
            {
                Assert.Equal(IndexKind.ProductQuantized, pq.Kind, "PQ Kind");
                Assert.Equal(Metric.InnerProduct, pq.Metric, "PQ Metric");
                Assert.Equal(12, pq.Dim, "PQ Dim");
                Assert.Equal(4, pq.PqM, "PqM");
                Assert.Equal(3, pq.PqNbits, "PqNbits");
                Assert.Equal(7, pq.TrainIterations, "TrainIterations");
                Assert.Equal(ulong.MaxValue, pq.Seed, "Seed");
                Assert.Equal((int?)1, pq.Threads, "PQ Threads");
                Assert.True(!pq.IsTrained, "a new PQ index is not trained");
                pq.Train(ToFloats(RandomPoints(8, 12, 1.0, 200)), 8);
                Assert.True(pq.IsTrained, "trained");
                Assert.Equal(0L, pq.Count, "Train adds nothing");
            }
            using (VectorIndex pq = VectorIndex.Pq(32))
            {
                Assert.Equal(16, pq.PqM, "default m");
                Assert.Equal(8, pq.PqNbits, "default nbits");
                Assert.Equal(25, pq.TrainIterations, "default iterations");
                Assert.Equal(0UL, pq.Seed, "default seed");
                Assert.Equal(Metric.L2, pq.Metric, "default metric");
                Assert.Equal(null, pq.Threads, "default threads");
            }
        }

        // ---- flat search against brute force ----------------------------------------------

        private static void IndexFlatBruteForce()
        {
            const int n = 300, d = 12, nq = 40, k = 10;
            float[] data = ToFloats(RandomPoints(n, d, 1.0, 201));
            float[] queries = ToFloats(RandomPoints(nq, d, 1.0, 202));
            foreach (Metric metric in s_metrics)
            {
                var reference = new IndexReference(d, metric);
                reference.Add(data, n, Sequence(0, n));
                using (VectorIndex index = VectorIndex.Flat(d, metric))
                {
                    index.Add(data, n);
                    Assert.Equal((long)n, index.Count, metric + ": Count");
                    SearchResult result = index.Search(queries, nq, k);
                    Assert.Equal(nq, result.QueryCount, metric + ": QueryCount");
                    Assert.Equal(k, result.K, metric + ": K");
                    IndexCheckClose(reference, queries, result, 1e-5, metric.ToString());
                    // Each stored vector is its own nearest neighbour under L2 (distance ~0).
                    if (metric == Metric.L2)
                    {
                        SearchResult own = index.Search(data.AsSpan(0, 20 * d), 20, 1);
                        Assert.True(own.Ids.SequenceEqual(Sequence(0, 20)), "L2: each vector finds itself");
                        Assert.True(own.Distances.All(v => Math.Abs(v) <= 1e-5 * 2 * d), "L2: distance to itself");
                    }
                    // k = the count: every vector, in order.
                    IndexCheckClose(reference, queries, index.Search(queries, nq, n), 1e-5, metric + ", k = n");
                }
            }
        }

        private static void IndexFlatExactTies()
        {
            // Coordinates in {-2, ..., 2}: many exact duplicates and equal
            // distances, all exact in float, so the hits must be the
            // reference's exactly: the same ids (ties to the smaller id) and
            // the same distance bits.
            const int n = 400, d = 6, nq = 30, k = 25;
            float[] data = IntegerPoints(n, d, 2, 203);
            float[] queries = IntegerPoints(nq, d, 2, 204);
            foreach (Metric metric in s_metrics)
            {
                var reference = new IndexReference(d, metric);
                reference.Add(data, n, Sequence(0, n));
                using (VectorIndex index = VectorIndex.Flat(d, metric))
                {
                    index.Add(data, n);
                    Assert.Equal(reference.ExactKey(queries, nq, k), IndexKey(index.Search(queries, nq, k)),
                        metric + ": hits");
                }
            }
        }

        private static void IndexDuplicatesAndPadding()
        {
            const int d = 4;
            float[] v = { 1f, -2f, 0.5f, 3f };
            float[] others = { 0f, 0f, 0f, 0f, 5f, 5f, 5f, 5f };
            foreach (Metric metric in s_metrics)
            {
                using (VectorIndex index = VectorIndex.Flat(d, metric))
                {
                    // The same vector under ids 50, 7, 30 (added in that order), and two others.
                    index.Add(v.Concat(v).Concat(v).ToArray(), 3, new ulong[] { 50, 7, 30 });
                    index.Add(others, 2, new ulong[] { 2, 9 });
                    Assert.Equal(5L, index.Count, metric + ": Count");
                    SearchResult result = index.Search(v, 1, 8);
                    double padding = metric == Metric.L2 ? double.PositiveInfinity : double.NegativeInfinity;
                    if (metric == Metric.L2)
                    {
                        // 0 three times (ties to the smaller id), then ||v||² = 14.25, then ||v - 5||² = 16+49+20.25+4.
                        Assert.True(result.Ids.SequenceEqual(new ulong[]
                        {
                            7, 30, 50, 2, 9, VectorIndex.NoId, VectorIndex.NoId, VectorIndex.NoId,
                        }), "L2 ids: " + string.Join(",", result.Ids));
                        Assert.BitIdentical(new[] { 0f, 0f, 0f, 14.25f, 89.25f, (float)padding, (float)padding,
                            (float)padding }, result.Distances, "L2 distances");
                    }
                    else
                    {
                        // v·v = 14.25 three times, then v·5 = 12.5, then 0.
                        Assert.True(result.Ids.SequenceEqual(new ulong[]
                        {
                            7, 30, 50, 9, 2, VectorIndex.NoId, VectorIndex.NoId, VectorIndex.NoId,
                        }), "IP ids: " + string.Join(",", result.Ids));
                        Assert.BitIdentical(new[] { 14.25f, 14.25f, 14.25f, 12.5f, 0f, (float)padding,
                            (float)padding, (float)padding }, result.Distances, "IP distances");
                    }
                    // Two queries, k above the count: each row padded on its own.
                    SearchResult two = index.Search(v.Concat(others.Take(d)).ToArray(), 2, 6);
                    Assert.Equal(VectorIndex.NoId, two.Ids[5], metric + ": row 0 padded");
                    Assert.Equal(VectorIndex.NoId, two.Ids[11], metric + ": row 1 padded");
                    Assert.Equal(-1L, unchecked((long)two.Ids[11]), metric + ": NoId is faiss's -1");
                }
                // An empty index: all padding.
                using (VectorIndex empty = VectorIndex.Flat(d, metric))
                {
                    SearchResult result = empty.Search(v, 1, 3);
                    Assert.True(result.Ids.All(id => id == VectorIndex.NoId), metric + ": empty index ids");
                    float pad = metric == Metric.L2 ? float.PositiveInfinity : float.NegativeInfinity;
                    Assert.BitIdentical(new[] { pad, pad, pad }, result.Distances, metric + ": empty index distances");
                }
            }
        }

        private static void IndexIds()
        {
            const int d = 3;
            float[] x = IntegerPoints(10, d, 5, 205);
            using (VectorIndex index = VectorIndex.Flat(d))
            {
                index.Add(x.AsSpan(0, 3 * d), 3);                               // 0, 1, 2
                index.Add(x.AsSpan(3 * d, 2 * d), 2, new ulong[] { 20, 10 });   // explicit
                index.Add(x.AsSpan(5 * d, 2 * d), 2);                           // 21, 22
                index.Remove(new ulong[] { 22, 1 });
                index.Add(x.AsSpan(7 * d, d), 1);                               // 23: past the largest ever added
                index.Add(x.AsSpan(8 * d, 2 * d), 2, new ulong[] { ulong.MaxValue - 1, 5 });
                Assert.Equal(8L, index.Count, "Count");
                var expected = new Dictionary<ulong, int>
                {
                    { 0, 0 }, { 2, 2 }, { 20, 3 }, { 10, 4 }, { 21, 5 }, { 23, 7 }, { ulong.MaxValue - 1, 8 }, { 5, 9 },
                };
                foreach (KeyValuePair<ulong, int> pair in expected)
                {
                    Assert.BitIdentical(x.Skip(pair.Value * d).Take(d).ToArray(), index.Reconstruct(pair.Key),
                        "Reconstruct(" + pair.Key + ")");
                }
                // Every stored id is found by its own vector (first among exact duplicates of it).
                SearchResult all = index.Search(x, 10, 8);
                var found = new HashSet<ulong>(all.Ids);
                Assert.True(found.SetEquals(expected.Keys), "search finds the stored ids: " + string.Join(",", found));
                Assert.Helios(Status.InvalidArgument, "1", () => index.Reconstruct(1), "a removed id");
                // The largest id is UINT64_MAX - 1, so no sequential id is left.
                Assert.Helios(Status.InvalidArgument, "sequential", () => index.Add(x.AsSpan(0, d), 1),
                    "sequential ids past UINT64_MAX - 1");
                Assert.Equal(8L, index.Count, "Count after refused calls");
            }
        }

        // ---- product quantization ----------------------------------------------------------

        private static void IndexPqAsymmetricDistances()
        {
            const int n = 2000, d = 16, nq = 40, k = 10;
            float[] data = Clustered(n, d, 20, 0.3, 206, 207);
            float[] queries = Clustered(nq, d, 20, 0.3, 206, 208);
            foreach (Metric metric in s_metrics)
            {
                using (VectorIndex pq = VectorIndex.Pq(d, m: 8, nbits: 6, metric: metric, seed: 3))
                {
                    pq.Train(data, n);
                    pq.Add(data, n);
                    // The reference: brute force in double over the vectors the codes stand for.
                    var reconstructed = new IndexReference(d, metric);
                    var all = new float[n * d];
                    for (int i = 0; i < n; i++)
                    {
                        Array.Copy(pq.Reconstruct((ulong)i), 0, all, i * d, d);
                    }
                    reconstructed.Add(all, n, Sequence(0, n));
                    // A reconstruction is made of centroids: at most 2^6 distinct sub-vectors per sub-space.
                    for (int s = 0; s < 8; s++)
                    {
                        int distinct = Enumerable.Range(0, n)
                            .Select(i => FloatBits(all[i * d + 2 * s]) + ":" + FloatBits(all[i * d + 2 * s + 1]))
                            .Distinct().Count();
                        Assert.True(distinct <= 64, metric + ": sub-space " + s + " has " + distinct + " centroids");
                    }
                    SearchResult result = pq.Search(queries, nq, k);
                    IndexCheckClose(reconstructed, queries, result, 1e-4, metric + " PQ");
                    // And the padding of a PQ index.
                    using (VectorIndex small = VectorIndex.Pq(d, m: 8, nbits: 6, metric: metric, seed: 3))
                    {
                        small.Train(data, n);
                        small.Add(data.AsSpan(0, 3 * d), 3);
                        SearchResult padded = small.Search(queries.AsSpan(0, d), 1, 5);
                        Assert.Equal(VectorIndex.NoId, padded.Ids[3], metric + ": PQ padding id");
                        Assert.True(float.IsInfinity(padded.Distances[4]), metric + ": PQ padding distance");
                    }
                }
            }
        }

        private static void IndexPqRecall()
        {
            // 30 clusters of about 100 points (noise 0.25 around centres in
            // [-4, 4]^16): M = 8 sub-spaces of 2 values, 256 centroids each.
            const int n = 3000, d = 16, nq = 100, k = 10;
            float[] data = Clustered(n, d, 30, 0.25, 209, 210);
            float[] queries = Clustered(nq, d, 30, 0.25, 209, 211);
            var recalls = new Dictionary<Metric, double>();
            foreach (Metric metric in s_metrics)
            {
                using (VectorIndex flat = VectorIndex.Flat(d, metric))
                using (VectorIndex pq = VectorIndex.Pq(d, m: 8, nbits: 8, metric: metric))
                {
                    flat.Add(data, n);
                    pq.Train(data, n);
                    pq.Add(data, n);
                    SearchResult exact = flat.Search(queries, nq, k);
                    SearchResult approximate = pq.Search(queries, nq, k);
                    int hits = 0;
                    for (int q = 0; q < nq; q++)
                    {
                        var truth = new HashSet<ulong>(exact.Ids.Skip(q * k).Take(k));
                        hits += approximate.Ids.Skip(q * k).Take(k).Count(truth.Contains);
                    }
                    recalls[metric] = hits / (double)(nq * k);
                }
            }
            // Seen when this test was written: L2 0.708, inner product 0.705 (a
            // random pick of 10 of 3000 would get 0.003). The floor is a sanity
            // check of the quantizer, not a benchmark.
            Assert.True(recalls[Metric.L2] >= 0.5, "L2 recall@10 is " + recalls[Metric.L2]);
            Assert.True(recalls[Metric.InnerProduct] >= 0.5, "IP recall@10 is " + recalls[Metric.InnerProduct]);
        }

        private static void IndexPqTrainRules()
        {
            const int n = 300, d = 8;
            float[] a = ToFloats(RandomPoints(n, d, 1.0, 212));
            float[] b = ToFloats(RandomPoints(n, d, 3.0, 213));
            using (VectorIndex pq = VectorIndex.Pq(d, m: 4, nbits: 4, seed: 9))
            using (VectorIndex fresh = VectorIndex.Pq(d, m: 4, nbits: 4, seed: 9))
            {
                pq.Train(a, n);
                pq.Train(b, n); // again while empty: the codebooks are those of b
                fresh.Train(b, n);
                pq.Add(a, n);
                fresh.Add(a, n);
                Assert.True(pq.ToBytes().SequenceEqual(fresh.ToBytes()), "retrained = trained once on b");
                Assert.Helios(Status.InvalidState, "", () => pq.Train(a, n), "train while holding vectors");
                // Emptied, it can be trained again.
                pq.Remove(Sequence(0, n));
                pq.Train(a, n);
                Assert.True(pq.IsTrained, "trained again");
            }
        }

        // ---- determinism -------------------------------------------------------------------

        private static void IndexThreadsDeterminism()
        {
            // Enough vectors (20000 > 2 x 8192) and queries (200 > 3 x 64)
            // for helios to split both among the threads.
            const int n = 20000, d = 8, nq = 200, k = 12;
            float[] data = ToFloats(RandomPoints(n, d, 1.0, 214));
            float[] queries = ToFloats(RandomPoints(nq, d, 1.0, 215));
            foreach (IndexKind kind in new[] { IndexKind.Flat, IndexKind.ProductQuantized })
            {
                foreach (Metric metric in s_metrics)
                {
                    string what = kind + " " + metric;
                    string reference = null;
                    byte[] referenceBytes = null;
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        using (VectorIndex index = kind == IndexKind.Flat
                            ? VectorIndex.Flat(d, metric, threads)
                            : VectorIndex.Pq(d, m: 4, nbits: 5, metric: metric, seed: 11, threads: threads,
                                trainIterations: 10))
                        {
                            index.Train(data, n);
                            index.Add(data, n);
                            string key = IndexKey(index.Search(queries, nq, k));
                            byte[] bytes = index.ToBytes();
                            if (reference == null)
                            {
                                reference = key;
                                referenceBytes = bytes;
                            }
                            Assert.Equal(reference, key, what + ", index threads " + threads);
                            Assert.True(referenceBytes.SequenceEqual(bytes), what + ", threads " + threads
                                + ": the same codebooks and codes");
                            // Per-call thread counts.
                            foreach (int callThreads in new[] { 1, 2, 3 })
                            {
                                Assert.Equal(reference, IndexKey(index.Search(queries, nq, k, callThreads)),
                                    what + ", search threads " + callThreads);
                            }
                            if (threads == 1)
                            {
                                // A query alone gets the bits it gets in the batch.
                                SearchResult batch = index.Search(queries, nq, k);
                                for (int q = 0; q < nq; q += 37)
                                {
                                    SearchResult alone = index.Search(queries.AsSpan(q * d, d), 1, k);
                                    Assert.Equal(IndexKey(batch.Distances.Skip(q * k).Take(k).ToArray(),
                                        batch.Ids.Skip(q * k).Take(k).ToArray()), IndexKey(alone),
                                        what + ": query " + q + " alone");
                                }
                            }
                        }
                    }
                }
            }
        }

        private static void IndexRectangularArrays()
        {
            const int n = 50, d = 4, nq = 6, k = 5;
            float[] data = ToFloats(RandomPoints(n, d, 1.0, 216));
            float[] queries = ToFloats(RandomPoints(nq, d, 1.0, 217));
            var data2 = new float[n, d];
            var queries2 = new float[nq, d];
            Buffer.BlockCopy(data, 0, data2, 0, data.Length * sizeof(float));
            Buffer.BlockCopy(queries, 0, queries2, 0, queries.Length * sizeof(float));
            using (VectorIndex spans = VectorIndex.Pq(d, m: 2, nbits: 4, seed: 1))
            using (VectorIndex arrays = VectorIndex.Pq(d, m: 2, nbits: 4, seed: 1))
            {
                spans.Train(data, n);
                arrays.Train(data2);
                ulong[] ids = Sequence(100, n);
                spans.Add(data, n, ids);
                arrays.Add(data2, ids);
                Assert.Equal(IndexKey(spans.Search(queries, nq, k)), IndexKey(arrays.Search(queries2, k)),
                    "float[,] search");
                Assert.Equal(IndexKey(spans.Search(queries, nq, k, 1)), IndexKey(arrays.Search(queries2, k, 2)),
                    "float[,] search with threads");
                Assert.True(spans.ToBytes().SequenceEqual(arrays.ToBytes()), "the same index");
                // A float[,] of another width is helios's to refuse.
                Assert.Helios(Status.InvalidArgument, "dim", () => arrays.Search(new float[2, d + 1], k),
                    "5 columns");
                Assert.Helios(Status.InvalidArgument, "dim", () => arrays.Add(new float[2, d - 1]), "3 columns");
                Assert.Helios(Status.InvalidArgument, "n = 0", () => arrays.Add(new float[0, d]), "no rows");
            }
        }

        // ---- persistence -------------------------------------------------------------------

        private static void IndexPersistenceRoundTrip()
        {
            const int n = 600, d = 8, nq = 20, k = 7;
            float[] data = Clustered(n, d, 10, 0.3, 218, 219);
            float[] queries = Clustered(nq, d, 10, 0.3, 218, 220);
            string dir = IndexTempDir();
            try
            {
                var made = new List<Func<VectorIndex>>
                {
                    () => VectorIndex.Flat(d, Metric.InnerProduct, threads: 2),
                    () => VectorIndex.Pq(d, m: 4, nbits: 6, metric: Metric.L2, seed: 42, threads: 2,
                        trainIterations: 9),
                };
                foreach (Func<VectorIndex> make in made)
                {
                    using (VectorIndex index = make())
                    {
                        string what = index.Kind.ToString();
                        string path = Path.Combine(dir, what + " index ü.bin");
                        index.Train(data, n);
                        index.Add(data, n, Sequence(1000, n));
                        index.Remove(new ulong[] { 1000 + n - 1, 1003 }); // the largest id is gone, not forgotten
                        index.Save(path);
                        byte[] bytes = index.ToBytes();
                        Assert.True(File.ReadAllBytes(path).SequenceEqual(bytes), what + ": file and bytes");
                        string expected = IndexKey(index.Search(queries, nq, k));
                        using (VectorIndex loaded = VectorIndex.Load(path))
                        using (VectorIndex copied = VectorIndex.FromBytes(bytes))
                        {
                            foreach (VectorIndex other in new[] { loaded, copied })
                            {
                                string how = what + ", " + (other == loaded ? "Load" : "FromBytes");
                                Assert.Equal(index.Kind, other.Kind, how + ": Kind");
                                Assert.Equal(index.Metric, other.Metric, how + ": Metric");
                                Assert.Equal(d, other.Dim, how + ": Dim");
                                Assert.Equal(index.PqM, other.PqM, how + ": PqM");
                                Assert.Equal(index.PqNbits, other.PqNbits, how + ": PqNbits");
                                Assert.Equal(index.TrainIterations, other.TrainIterations, how + ": TrainIterations");
                                Assert.Equal(index.Seed, other.Seed, how + ": Seed");
                                Assert.Equal(null, other.Threads, how + ": Threads");
                                Assert.Equal((long)(n - 2), other.Count, how + ": Count");
                                Assert.True(other.IsTrained, how + ": trained");
                                Assert.Equal(expected, IndexKey(other.Search(queries, nq, k)), how + ": Search");
                                foreach (ulong id in new ulong[] { 1000, 1001, 1000 + n - 2 })
                                {
                                    Assert.BitIdentical(index.Reconstruct(id), other.Reconstruct(id),
                                        how + ": Reconstruct(" + id + ")");
                                }
                                Assert.True(other.ToBytes().SequenceEqual(bytes), how + ": ToBytes again");
                            }
                            // The next sequential id (one past the largest ever added) survives the trip.
                            foreach (VectorIndex each in new[] { index, loaded, copied })
                            {
                                each.Add(data.AsSpan(0, d), 1);
                                Assert.BitIdentical(index.Reconstruct(1000 + (ulong)n), each.Reconstruct(1000 + (ulong)n),
                                    what + ": next sequential id");
                            }
                            Assert.True(loaded.ToBytes().SequenceEqual(index.ToBytes()), what + ": the same after an add");
                        }
                        // Saving over an existing file replaces it.
                        index.Save(path);
                        Assert.True(File.ReadAllBytes(path).SequenceEqual(index.ToBytes()), what + ": saved twice");
                    }
                }
                // An untrained PQ index round-trips untrained.
                using (VectorIndex untrained = VectorIndex.Pq(d, m: 2, nbits: 3))
                using (VectorIndex copy = VectorIndex.FromBytes(untrained.ToBytes()))
                {
                    Assert.True(!copy.IsTrained, "untrained after the trip");
                    Assert.Equal(2, copy.PqM, "untrained PqM");
                    Assert.Helios(Status.InvalidState, "", () => copy.Search(queries, nq, k), "untrained search");
                }
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        private static void IndexCorruptInput()
        {
            const int n = 40, d = 4;
            string dir = IndexTempDir();
            try
            {
                byte[] bytes;
                using (VectorIndex index = VectorIndex.Pq(d, m: 2, nbits: 3))
                {
                    float[] data = ToFloats(RandomPoints(n, d, 1.0, 221));
                    index.Train(data, n);
                    index.Add(data, n);
                    bytes = index.ToBytes();
                }
                var broken = new Dictionary<string, byte[]>
                {
                    { "empty", new byte[0] },
                    { "truncated to half", bytes.Take(bytes.Length / 2).ToArray() },
                    { "one byte short", bytes.Take(bytes.Length - 1).ToArray() },
                    { "one byte more", bytes.Concat(new byte[] { 0 }).ToArray() },
                    { "not an index", Enumerable.Range(0, 200).Select(i => (byte)(i * 7)).ToArray() },
                };
                foreach (int at in new[] { 0, 9, bytes.Length / 2, bytes.Length - 1 })
                {
                    byte[] flipped = (byte[])bytes.Clone();
                    flipped[at] ^= 0x10;
                    broken.Add("byte " + at + " flipped", flipped);
                }
                foreach (KeyValuePair<string, byte[]> pair in broken)
                {
                    Assert.Helios(Status.Format, "", () => VectorIndex.FromBytes(pair.Value).Dispose(),
                        "FromBytes: " + pair.Key);
                    string path = Path.Combine(dir, "broken.bin");
                    File.WriteAllBytes(path, pair.Value);
                    Assert.Helios(Status.Format, "", () => VectorIndex.Load(path).Dispose(), "Load: " + pair.Key);
                }
                // The intact bytes still load.
                using (VectorIndex index = VectorIndex.FromBytes(bytes))
                {
                    Assert.Equal((long)n, index.Count, "the intact bytes");
                }
                Assert.Helios(Status.Io, "", () => VectorIndex.Load(Path.Combine(dir, "missing.bin")).Dispose(),
                    "a missing file");
                Assert.Helios(Status.InvalidArgument, "", () => VectorIndex.Load("").Dispose(), "an empty path");
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        // ---- concurrency -------------------------------------------------------------------

        private static void IndexConcurrentSearchAndWrite()
        {
            // Integer data, so that the brute-force result of every state is
            // exact; the writer's states are known before the threads start.
            const int d = 8, nq = 6, k = 9, batch = 12, steps = 24, searchers = 4;
            float[] queries = IntegerPoints(nq, d, 3, 222);
            foreach (Metric metric in s_metrics)
            {
                var reference = new IndexReference(d, metric);
                float[] initial = IntegerPoints(40, d, 3, 223);
                reference.Add(initial, 40, Sequence(0, 40));
                var states = new HashSet<string> { reference.ExactKey(queries, nq, k) };
                var counts = new HashSet<long> { reference.Count };
                // Step s adds a batch with ids 1000·(s+1)... or removes the previous step's batch but two.
                var adds = new List<float[]>();
                for (int s = 0; s < steps; s++)
                {
                    if (s % 3 == 2)
                    {
                        reference.Remove(Sequence(1000 * (ulong)s, batch - 2));
                    }
                    else
                    {
                        float[] x = IntegerPoints(batch, d, 3, 300 + s);
                        adds.Add(x);
                        reference.Add(x, batch, Sequence(1000 * (ulong)(s + 1), batch));
                    }
                    states.Add(reference.ExactKey(queries, nq, k));
                    counts.Add(reference.Count);
                }

                using (VectorIndex index = VectorIndex.Flat(d, metric, threads: 2))
                {
                    index.Add(initial, 40);
                    int writerDone = 0, searchesDone = 0, searchersDone = 0;
                    var seen = new List<string>[searchers];
                    OnThreads(searchers + 1, t =>
                    {
                        if (t == searchers)
                        {
                            try
                            {
                                int added = 0;
                                for (int s = 0; s <= steps; s++)
                                {
                                    // Before each write (and before stopping), wait for
                                    // searchers + 1 searches to finish after the previous
                                    // write: at most one per searcher began before it, so
                                    // at least one saw exactly the state it made.
                                    // (Ordering, not timing.)
                                    int last = Volatile.Read(ref searchesDone);
                                    while (Volatile.Read(ref searchesDone) < last + searchers + 1
                                        && Volatile.Read(ref searchersDone) == 0)
                                    {
                                        Thread.Yield();
                                    }
                                    if (s == steps)
                                    {
                                        break;
                                    }
                                    if (s % 3 == 2)
                                    {
                                        index.Remove(Sequence(1000 * (ulong)s, batch - 2));
                                    }
                                    else
                                    {
                                        index.Add(adds[added++], batch, Sequence(1000 * (ulong)(s + 1), batch));
                                    }
                                }
                            }
                            finally
                            {
                                // Even when the writer fails, so that the searchers stop.
                                Volatile.Write(ref writerDone, 1);
                            }
                            return;
                        }
                        var mine = new List<string>();
                        try
                        {
                            // Search until the writer is done, and at least 20 times.
                            for (int i = 0; Volatile.Read(ref writerDone) == 0 || i < 20; i++)
                            {
                                mine.Add(IndexKey(index.Search(queries, nq, k, 1 + (i + t) % 2)));
                                long count = index.Count;
                                Assert.True(counts.Contains(count), "Count " + count + " is no state's");
                                Interlocked.Increment(ref searchesDone);
                            }
                        }
                        finally
                        {
                            // A searcher that stops (or fails) releases the writer.
                            Interlocked.Increment(ref searchersDone);
                        }
                        seen[t] = mine;
                    });
                    for (int t = 0; t < searchers; t++)
                    {
                        for (int i = 0; i < seen[t].Count; i++)
                        {
                            Assert.True(states.Contains(seen[t][i]), metric + ": searcher " + t + ", search " + i
                                + " matches none of the " + states.Count + " states");
                        }
                    }
                    // The writer waited for a search of every state before changing it.
                    int distinct = seen.SelectMany(list => list).Distinct().Count();
                    Assert.Equal(states.Count, distinct, metric + ": distinct states seen");
                    // The last state is the final one.
                    Assert.Equal(reference.ExactKey(queries, nq, k), IndexKey(index.Search(queries, nq, k)),
                        metric + ": final state");
                    Assert.Equal((long)reference.Count, index.Count, metric + ": final Count");
                }
            }
        }

        private static void IndexDisposeDuringSearch()
        {
            const int n = 20000, d = 16, nq = 400, k = 10;
            float[] data = ToFloats(RandomPoints(n, d, 1.0, 225));
            float[] queries = ToFloats(RandomPoints(nq, d, 1.0, 226));
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var index = VectorIndex.Flat(d, threads: 1);
                index.Add(data, n);
                SearchResult first = index.Search(queries.AsSpan(0, 5 * d), 5, k);
                string expected = IndexKey(first);
                OnThreads(3, t =>
                {
                    if (t < 2)
                    {
                        try
                        {
                            // Either it entered before the Dispose and finishes
                            // with the right bits, or it finds the index disposed.
                            SearchResult result = index.Search(queries, nq, k);
                            Assert.Equal(expected, IndexKey(result.Distances.Take(5 * k).ToArray(),
                                result.Ids.Take(5 * k).ToArray()), "the search that ran");
                        }
                        catch (ObjectDisposedException)
                        {
                        }
                    }
                    else
                    {
                        Thread.Sleep(attempt * 5);
                        index.Dispose();
                    }
                });
                Assert.Throws<ObjectDisposedException>(() => index.Search(queries.AsSpan(0, d), 1, k), "after Dispose");
            }
        }

        // ---- errors ----------------------------------------------------------------------

        private static void IndexHeliosErrors()
        {
            const int d = 8, n = 300;
            float[] data = ToFloats(RandomPoints(n, d, 1.0, 227));

            // Settings helios refuses.
            Assert.Helios(Status.InvalidArgument, "dim", () => VectorIndex.Flat(0), "flat dim 0");
            Assert.Helios(Status.InvalidArgument, "dim", () => VectorIndex.Pq(0, m: 1), "PQ dim 0");
            Assert.Helios(Status.InvalidArgument, "divisible", () => VectorIndex.Pq(10, m: 4), "dim 10, m 4");
            Assert.Helios(Status.InvalidArgument, "pq_m", () => VectorIndex.Pq(8, m: 0), "m 0");
            Assert.Helios(Status.InvalidArgument, "pq_m", () => VectorIndex.Pq(65537 * 2, m: 65537), "m 65537");
            Assert.Helios(Status.InvalidArgument, "pq_nbits", () => VectorIndex.Pq(8, m: 2, nbits: 0), "nbits 0");
            Assert.Helios(Status.InvalidArgument, "pq_nbits", () => VectorIndex.Pq(8, m: 2, nbits: 9), "nbits 9");
            Assert.Helios(Status.InvalidArgument, "train_iterations",
                () => VectorIndex.Pq(8, m: 2, trainIterations: 0), "iterations 0");
            Assert.Helios(Status.InvalidArgument, "train_iterations",
                () => VectorIndex.Pq(8, m: 2, trainIterations: 1001), "iterations 1001");
            Assert.Helios(Status.InvalidArgument, "thread", () => VectorIndex.Flat(8, threads: 0), "threads 0");
            Assert.Helios(Status.InvalidArgument, "thread", () => VectorIndex.Flat(8, threads: 1025), "threads 1025");
            Assert.Helios(Status.InvalidArgument, "metric", () => VectorIndex.Flat(8, (Metric)5), "metric 5");

            using (VectorIndex pq = VectorIndex.Pq(d, m: 4, nbits: 8))
            {
                // Untrained: Add and Search are InvalidState.
                Assert.Helios(Status.InvalidState, "not trained", () => pq.Search(data, n, 3), "untrained search");
                Assert.Helios(Status.InvalidState, "not trained", () => pq.Add(data, n), "untrained add");
                // Too few training vectors: 255 for 2^8 centroids.
                Assert.Helios(Status.InvalidArgument, "256", () => pq.Train(data.AsSpan(0, 255 * d), 255),
                    "255 training vectors");
                Assert.True(!pq.IsTrained, "refused training leaves it untrained");
                float[] withNaN = (float[])data.Clone();
                withNaN[17 * d + 3] = float.NaN;
                Assert.Helios(Status.Numeric, "NaN", () => pq.Train(withNaN, n), "NaN in train");
                pq.Train(data, n);
                Assert.Helios(Status.Numeric, "row 17", () => pq.Add(withNaN, n), "NaN in PQ add");
                Assert.Equal(0L, pq.Count, "the refused add added nothing");
            }

            using (VectorIndex index = VectorIndex.Flat(d))
            {
                index.Add(data, n);
                string before = IndexKey(index.Search(data.AsSpan(0, 5 * d), 5, 4));
                float[] withNaN = (float[])data.Clone();
                withNaN[2 * d + 1] = float.NaN;
                float[] withInfinity = (float[])data.Clone();
                withInfinity[d] = float.NegativeInfinity;
                Assert.Helios(Status.Numeric, "row 2", () => index.Add(withNaN, n), "NaN in add");
                Assert.Helios(Status.Numeric, "row 1", () => index.Add(withInfinity, n), "-Inf in add");
                Assert.Helios(Status.Numeric, "row 2", () => index.Search(withNaN.AsSpan(0, 5 * d), 5, 4),
                    "NaN in search");
                Assert.Helios(Status.Numeric, "row 1", () => index.Search(withInfinity.AsSpan(0, 5 * d), 5, 4),
                    "-Inf in search");
                Assert.Helios(Status.InvalidArgument, "k is 0", () => index.Search(data, n, 0), "k 0");
                Assert.Helios(Status.InvalidArgument, "n = 0", () => index.Search(new float[0], 0, 3),
                    "no queries");
                Assert.Helios(Status.InvalidArgument, "n = 0", () => index.Add(new float[0], 0), "no vectors");
                // Ids: present, repeated, NoId; nothing is added.
                Assert.Helios(Status.InvalidArgument, "already", () => index.Add(data.AsSpan(0, 2 * d), 2,
                    new ulong[] { 5000, 7 }), "an id already present");
                Assert.Helios(Status.InvalidArgument, "twice", () => index.Add(data.AsSpan(0, 2 * d), 2,
                    new ulong[] { 5000, 5000 }), "an id twice");
                Assert.Helios(Status.InvalidArgument, "UINT64_MAX", () => index.Add(data.AsSpan(0, d), 1,
                    new[] { VectorIndex.NoId }), "NoId");
                // Remove: unknown, repeated, none; nothing is removed.
                Assert.Helios(Status.InvalidArgument, "4242", () => index.Remove(new ulong[] { 3, 4242 }),
                    "an unknown id");
                Assert.Helios(Status.InvalidArgument, "twice", () => index.Remove(new ulong[] { 3, 3 }),
                    "an id twice");
                Assert.Helios(Status.InvalidArgument, "n = 0", () => index.Remove(new ulong[0]), "no ids");
                Assert.Helios(Status.InvalidArgument, "4242", () => index.Reconstruct(4242), "Reconstruct(unknown)");
                Assert.Equal((long)n, index.Count, "Count after refused calls");
                Assert.Equal(before, IndexKey(index.Search(data.AsSpan(0, 5 * d), 5, 4)), "the index after refused calls");
                Assert.Helios(Status.InvalidArgument, "thread", () => index.Search(data.AsSpan(0, 5 * d), 5, 4, 0),
                    "search threads 0");
                Assert.Helios(Status.InvalidArgument, "thread", () => index.Threads = 1025, "Threads = 1025");

                // Files: an empty path, a NUL, a folder that does not exist.
                Assert.Helios(Status.InvalidArgument, "", () => index.Save(""), "empty path");
                Assert.Helios(Status.InvalidArgument, "", () => index.Save("a\0b"), "NUL in the path");
                Assert.Helios(Status.Io, "", () => index.Save(Path.Combine(Path.GetTempPath(),
                    "helios-no-such-dir-" + Guid.NewGuid().ToString("N"), "index.bin")), "missing folder");
            }
        }

        private static void IndexArgumentErrors()
        {
            const int d = 4, n = 10;
            float[] data = ToFloats(RandomPoints(n, d, 1.0, 228));
            Assert.Equal("dim", Assert.Throws<ArgumentOutOfRangeException>(() => VectorIndex.Flat(-1), "dim -1")
                .ParamName, "ParamName");
            Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(() => VectorIndex.Pq(4, m: -2), "m -2")
                .ParamName, "ParamName");
            Assert.Equal("nbits", Assert.Throws<ArgumentOutOfRangeException>(() => VectorIndex.Pq(4, m: 2, nbits: -1),
                "nbits -1").ParamName, "ParamName");
            Assert.Equal("trainIterations", Assert.Throws<ArgumentOutOfRangeException>(
                () => VectorIndex.Pq(4, m: 2, trainIterations: -1), "trainIterations -1").ParamName, "ParamName");
            Assert.Equal("threads", Assert.Throws<ArgumentOutOfRangeException>(
                () => VectorIndex.Flat(4, threads: -1), "threads -1").ParamName, "ParamName");
            using (VectorIndex index = VectorIndex.Flat(d))
            {
                // Vectors must hold exactly n·Dim floats; ids one per vector.
                Assert.Equal("x", Assert.Throws<ArgumentException>(() => index.Add(data, n + 1), "a vector short")
                    .ParamName, "ParamName");
                Assert.Equal("x", Assert.Throws<ArgumentException>(() => index.Add(data, n - 1), "a vector long")
                    .ParamName, "ParamName");
                Assert.Equal("x", Assert.Throws<ArgumentException>(() => index.Add(data.AsSpan(1), n - 1),
                    "not whole vectors").ParamName, "ParamName");
                Assert.Equal("x", Assert.Throws<ArgumentException>(() => index.Train(data, n + 1), "Train short")
                    .ParamName, "ParamName");
                Assert.Equal("ids", Assert.Throws<ArgumentException>(() => index.Add(data, n, Sequence(0, n - 1)),
                    "an id short").ParamName, "ParamName");
                Assert.Equal("ids", Assert.Throws<ArgumentException>(() => index.Add(data, n, new ulong[0]),
                    "no ids").ParamName, "ParamName");
                Assert.Equal("ids", Assert.Throws<ArgumentException>(() => index.Add(new float[2, d],
                    new ulong[3]), "float[,] ids").ParamName, "ParamName");
                Assert.Equal("n", Assert.Throws<ArgumentOutOfRangeException>(() => index.Add(data, -1), "n -1")
                    .ParamName, "ParamName");
                Assert.Equal(0L, index.Count, "nothing added");
                index.Add(data, n);
                Assert.Equal("queries", Assert.Throws<ArgumentException>(() => index.Search(data, n + 1, 3),
                    "queries short").ParamName, "ParamName");
                Assert.Equal("nQueries", Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(data, -1, 3),
                    "nQueries -1").ParamName, "ParamName");
                Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(data, n, -3),
                    "k -3").ParamName, "ParamName");
                Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(data, n,
                    int.MaxValue), "k too large for one array").ParamName, "ParamName");
                Assert.Equal("threads", Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(data, n, 3, -1),
                    "threads -1").ParamName, "ParamName");
                Assert.Equal("value", Assert.Throws<ArgumentOutOfRangeException>(() => index.Threads = -2,
                    "Threads = -2").ParamName, "ParamName");
                Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => index.Add((float[,])null),
                    "Add(null)").ParamName, "ParamName");
                Assert.Equal("x", Assert.Throws<ArgumentNullException>(() => index.Train((float[,])null),
                    "Train(null)").ParamName, "ParamName");
                Assert.Equal("queries", Assert.Throws<ArgumentNullException>(() => index.Search((float[,])null, 3),
                    "Search(null)").ParamName, "ParamName");
                Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => index.Save(null), "Save(null)")
                    .ParamName, "ParamName");
                Assert.Equal("path", Assert.Throws<ArgumentException>(() => index.Save("bad\ud800.bin"),
                    "a lone surrogate").ParamName, "ParamName");
            }
            Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => VectorIndex.Load(null), "Load(null)")
                .ParamName, "ParamName");
            Assert.Equal("data", Assert.Throws<ArgumentNullException>(() => VectorIndex.FromBytes((byte[])null),
                "FromBytes(null)").ParamName, "ParamName");
        }

        private static void IndexDisposed()
        {
            const int d = 4, n = 10;
            float[] data = ToFloats(RandomPoints(n, d, 1.0, 229));
            var index = VectorIndex.Flat(d);
            index.Add(data, n);
            index.Dispose();
            index.Dispose();
            var calls = new Dictionary<string, Action>
            {
                { "Train", () => index.Train(data, n) },
                { "Train [,]", () => index.Train(new float[1, d]) },
                { "Add", () => index.Add(data, n) },
                { "Add [,]", () => index.Add(new float[1, d]) },
                { "Remove", () => index.Remove(new ulong[] { 1 }) },
                { "Search", () => index.Search(data, n, 3) },
                { "Search [,]", () => index.Search(new float[1, d], 3) },
                { "Reconstruct", () => index.Reconstruct(0) },
                { "Count", () => index.Count.ToString() },
                { "IsTrained", () => index.IsTrained.ToString() },
                { "Kind", () => index.Kind.ToString() },
                { "Metric", () => index.Metric.ToString() },
                { "Dim", () => index.Dim.ToString() },
                { "PqM", () => index.PqM.ToString() },
                { "PqNbits", () => index.PqNbits.ToString() },
                { "TrainIterations", () => index.TrainIterations.ToString() },
                { "Seed", () => index.Seed.ToString() },
                { "Threads", () => index.Threads.ToString() },
                { "Threads =", () => index.Threads = 2 },
                { "Save", () => index.Save(Path.Combine(Path.GetTempPath(), "helios-never-written.bin")) },
                { "ToBytes", () => index.ToBytes() },
            };
            foreach (KeyValuePair<string, Action> call in calls)
            {
                ObjectDisposedException error = Assert.Throws<ObjectDisposedException>(call.Value, call.Key);
                Assert.Contains("VectorIndex", error.Message, call.Key + " (message)");
            }
        }
    }
}
