using Strata.Blocks;
using Strata.Pool.Space;
using Xunit;
using Xunit.Abstractions;

namespace Strata.Pool.Tests.Model;

/// <summary>
/// Random sequences of create, write, read, unmap, flush, snapshot, clone, revert, grow, delete and reopen,
/// checked step by step against <see cref="ReferenceModel"/>: every read equals the model, and the pool's and
/// every volume's chunk counts equal the model's. A failure names its seed;
/// <c>STRATA_MODEL_SEED=n</c> replays that one sequence, <c>STRATA_MODEL_SEQUENCES=n</c> runs more.
/// </summary>
public sealed class ModelBasedTests(ITestOutputHelper output)
{
    private const int DefaultSequences = 2000;
    private const int StepsPerSequence = 40;

    [Fact]
    public async Task Random_operation_sequences_match_the_reference_model()
    {
        var seeds = Environment.GetEnvironmentVariable("STRATA_MODEL_SEED") is { } one
            ? [int.Parse(one)]
            : Enumerable.Range(1, int.TryParse(Environment.GetEnvironmentVariable("STRATA_MODEL_SEQUENCES"), out int n) ? n : DefaultSequences);
        long steps = 0;
        var failures = new System.Collections.Concurrent.ConcurrentDictionary<int, string>();
        await Parallel.ForEachAsync(seeds, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, async (seed, _) =>
        {
            var sequence = new Sequence(seed);
            try
            {
                await sequence.RunAsync(StepsPerSequence);
                Interlocked.Add(ref steps, sequence.Steps);
            }
            catch (Exception e)
            {
                failures[seed] = $"sequence {seed} failed at step {sequence.Steps} (replay: STRATA_MODEL_SEED={seed}); its last steps:\n{string.Join("\n", sequence.Log.TakeLast(25))}\n{e}";
            }
            finally
            {
                await sequence.DisposeAsync();
            }
        });

        if (!failures.IsEmpty)
        {
            throw new Xunit.Sdk.XunitException($"{failures.Count} of {seeds.Count()} sequences failed; the first:\n{failures[failures.Keys.Min()]}");
        }

        output.WriteLine($"{seeds.Count()} sequences, {steps} steps, all matched the model");
    }

    private sealed class Sequence(int seed) : IAsyncDisposable
    {
        private readonly Random _random = new(seed);
        private readonly TempDirectory _dir = new(inMemory: true);
        private readonly Dictionary<string, PoolVolume> _open = [];
        private StoragePool? _pool;
        private ReferenceModel? _model;
        private string[] _paths = [];
        private int _names;

        public List<string> Log { get; } = [];

        public int Steps { get; private set; }

        private StoragePool Pool => _pool!;

        private ReferenceModel Model => _model!;

        public async Task RunAsync(int steps)
        {
            var layout = _random.Next(3) == 0 ? PoolLayout.Mirrored : PoolLayout.Striped;
            int vdevs = layout == PoolLayout.Mirrored ? 2 : _random.Next(1, 3);
            int chunk = _random.Next(2) == 0 ? 4096 : 8192;
            long vdevBytes = (1L << 20) + _random.Next(1, 32) * (long)chunk; // 256 KiB metadata ring, then a few dozen chunks
            _paths = Enumerable.Range(0, vdevs).Select(i => _dir.File($"v{i}")).ToArray();
            _pool = await StoragePool.CreateAsync(new PoolCreateOptions
            {
                Name = $"model-{seed}",
                Layout = layout,
                ChunkSize = chunk,
                MetadataBytes = 256 * 1024,
                Vdevs = _paths.Select(p => new VdevSpec(p, vdevBytes)).ToArray(),
            });
            _model = new ReferenceModel(Pool.CapacityChunks, chunk);
            Log.Add($"create {layout} pool, {vdevs} vdev(s), chunk {chunk}, {Pool.CapacityChunks} chunks");
            for (Steps = 0; Steps < steps; Steps++)
            {
                await StepAsync();
                CheckAccounting();
            }

            await ReopenAsync(crash: false);
            await CheckEverythingAsync();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var v in _open.Values)
            {
                await v.DisposeAsync();
            }

            if (_pool is not null)
            {
                await _pool.DisposeAsync();
            }

            _dir.Dispose();
        }

        private async Task StepAsync()
        {
            var volumes = Model.Volumes.Values.Where(v => !v.IsSnapshot).ToArray();
            var snapshots = Model.Volumes.Values.Where(v => v.IsSnapshot).ToArray();
            int op = _random.Next(100);
            if (volumes.Length == 0 || op < 6)
            {
                await CreateAsync();
            }
            else if (op < 40)
            {
                await WriteAsync(Pick(volumes));
            }
            else if (op < 55)
            {
                await ReadAsync(Pick(Model.Volumes.Values.ToArray()));
            }
            else if (op < 65)
            {
                await UnmapAsync(Pick(volumes));
            }
            else if (op < 70)
            {
                Log.Add("flush");
                await Pool.CommitAsync();
            }
            else if (op < 77)
            {
                var v = Pick(volumes);
                string name = $"s{_names++}";
                Log.Add($"snapshot {v.Name}@{name}");
                await Pool.SnapshotAsync(v.Name, name);
                Model.Snapshot(v, $"{v.Name}@{name}");
            }
            else if (op < 81 && snapshots.Length > 0)
            {
                var s = Pick(snapshots);
                string name = $"c{_names++}";
                Log.Add($"clone {s.Name} -> {name}");
                await Pool.CloneAsync(s.Name, name);
                Model.Clone(s, name);
            }
            else if (op < 84 && snapshots.Length > 0)
            {
                var s = Pick(snapshots);
                var v = Model.Volumes[s.Origin!];
                Log.Add($"revert {v.Name} to {s.Name}");
                await Pool.RevertAsync(v.Name, s.Name);
                Model.Revert(v, s);
            }
            else if (op < 87)
            {
                var v = Pick(volumes);
                long size = v.Size + _random.Next(1, 64) * (long)v.BlockSize;
                Log.Add($"grow {v.Name} {v.Size} -> {size}");
                await Pool.GrowAsync(v.Name, size);
                v.Size = size;
            }
            else if (op < 93)
            {
                await DeleteAsync(Pick(Model.Volumes.Values.ToArray()));
            }
            else
            {
                await ReopenAsync(crash: _random.Next(2) == 0);
                await CheckEverythingAsync();
            }
        }

        private async Task CreateAsync()
        {
            int bs = _random.Next(2) == 0 ? 512 : 4096;
            long size = _random.Next(1, 24) * (long)Model.ChunkSize + _random.Next(0, 4) * (long)bs;
            string name = $"v{_names++}";
            Log.Add($"create {name} {size} bytes, {bs}-byte blocks");
            await Pool.CreateVolumeAsync(name, size, bs);
            Model.Create(name, size, bs);
        }

        private async Task WriteAsync(ModelVolume v)
        {
            var (lba, count) = Range(v, 3 * Model.ChunkSize / v.BlockSize);
            var data = new byte[count * v.BlockSize];
            _random.NextBytes(data);
            bool fua = _random.Next(8) == 0;
            Log.Add($"write {v.Name} lba {lba} x{count}{(fua ? " fua" : "")}");
            bool fits = Model.Write(v, lba, data);
            await ExpectAsync(fits, Open(v.Name).WriteAsync(lba, data, fua ? WriteFlags.Fua : WriteFlags.None));
        }

        private async Task UnmapAsync(ModelVolume v)
        {
            var (lba, count) = Range(v, 4 * Model.ChunkSize / v.BlockSize);
            Log.Add($"unmap {v.Name} lba {lba} x{count}");
            bool fits = Model.Unmap(v, lba, count);
            await ExpectAsync(fits, Open(v.Name).UnmapAsync(lba, count));
        }

        private async Task ReadAsync(ModelVolume v)
        {
            var (lba, count) = Range(v, 4 * Model.ChunkSize / v.BlockSize);
            Log.Add($"read {v.Name} lba {lba} x{count}");
            await CompareAsync(v, lba, count);
        }

        private async Task DeleteAsync(ModelVolume v)
        {
            bool hasChildren = Model.Volumes.Values.Any(c => c.Origin == v.Name);
            Log.Add($"delete {v.Name}{(hasChildren ? " (refused: it has children)" : "")}");
            if (_open.Remove(v.Name, out var handle))
            {
                await handle.DisposeAsync();
            }

            if (hasChildren)
            {
                await Assert.ThrowsAsync<PoolException>(() => Pool.DeleteAsync(v.Name));
                return;
            }

            await Pool.DeleteAsync(v.Name);
            Model.Delete(v);
        }

        private async Task ReopenAsync(bool crash)
        {
            Log.Add(crash ? "flush, then crash and reopen" : "close and reopen");
            foreach (var v in _open.Values)
            {
                await v.DisposeAsync();
            }

            _open.Clear();
            if (crash)
            {
                await Pool.CommitAsync();
                await Pool.AbandonAsync();
            }
            else
            {
                await Pool.DisposeAsync();
            }

            _pool = await StoragePool.OpenAsync(_paths);
        }

        private async Task CheckEverythingAsync()
        {
            CheckAccounting();
            foreach (var v in Model.Volumes.Values)
            {
                for (long lba = 0; lba < v.BlockCount; lba += 256)
                {
                    await CompareAsync(v, lba, Math.Min(256, v.BlockCount - lba));
                }
            }

            var report = await Pool.CheckAsync();
            Assert.True(report.Ok, report.ToString());
        }

        private void CheckAccounting()
        {
            Assert.Equal(Model.Allocated, Pool.AllocatedChunks);
            Assert.Equal(Pool.CapacityBytes, Pool.AllocatedBytes + Pool.FreeBytes);
            var infos = Pool.ListVolumes().ToDictionary(i => i.Name);
            Assert.Equal(Model.Volumes.Keys.Order(StringComparer.Ordinal), infos.Keys.Order(StringComparer.Ordinal));
            foreach (var v in Model.Volumes.Values)
            {
                var info = infos[v.Name];
                Assert.True(v.Chunks.Count == info.ReferencedChunks, $"{v.Name}: model references {v.Chunks.Count} chunks, pool says {info.ReferencedChunks}");
                Assert.True(Model.UniqueChunks(v) == info.UniqueChunks, $"{v.Name}: model has {Model.UniqueChunks(v)} unique chunks, pool says {info.UniqueChunks}");
                Assert.Equal(v.Size, info.SizeBytes);
                Assert.Equal(v.IsSnapshot ? VolumeKind.Snapshot : VolumeKind.Volume, info.Kind);
            }
        }

        private async Task CompareAsync(ModelVolume v, long lba, long count)
        {
            var buffer = new byte[count * v.BlockSize];
            await Open(v.Name).ReadAsync(lba, buffer);
            for (long b = 0; b < count; b++)
            {
                var actual = buffer.AsSpan((int)(b * v.BlockSize), v.BlockSize);
                bool equal = v.Blocks.TryGetValue(lba + b, out var expected)
                    ? actual.SequenceEqual(expected)
                    : actual.IndexOfAnyExcept((byte)0) < 0;
                Assert.True(equal, $"{v.Name} block {lba + b} differs from the model ({(expected is null ? "expected zeros" : "expected written data")})");
            }
        }

        private static async Task ExpectAsync(bool fits, ValueTask io)
        {
            if (fits)
            {
                await io;
                return;
            }

            var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await io);
            Assert.Equal(BlockDeviceErrorKind.NoSpace, e.Kind);
        }

        private PoolVolume Open(string name)
        {
            if (!_open.TryGetValue(name, out var v))
            {
                v = Pool.OpenVolume(name);
                _open[name] = v;
            }

            return v;
        }

        private (long Lba, long Count) Range(ModelVolume v, long maxBlocks)
        {
            long lba = _random.NextInt64(v.BlockCount);
            if (_random.Next(4) == 0)
            {
                lba -= lba % (Model.ChunkSize / v.BlockSize); // chunk-aligned: whole-chunk unmaps and writes
            }

            long count = _random.NextInt64(1, Math.Min(maxBlocks, v.BlockCount - lba) + 1);
            return (lba, count);
        }

        private T Pick<T>(T[] items) => items[_random.Next(items.Length)];
    }
}
