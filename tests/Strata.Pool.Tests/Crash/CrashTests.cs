using System.Diagnostics;
using Strata.Pool.CrashWorker;
using Xunit;
using Xunit.Abstractions;

namespace Strata.Pool.Tests.Crash;

/// <summary>
/// A child process runs a random workload with flushes, FUA writes and snapshots on a pool, and is killed with
/// SIGKILL at a random moment (during start-up and recovery too); then the pool is reopened, <c>pool check</c>
/// must pass, every write acknowledged before the last completed flush (or with FUA) must read back exactly,
/// every other block must hold one of the versions it may hold, and every acknowledged snapshot must hold
/// what the volume held when it was taken. The same pool goes through every trial, so recovery also runs on
/// pools that were recovered before. <c>STRATA_CRASH_TRIALS=n</c> runs n trials per layout (soak).
/// </summary>
public sealed class CrashTests(ITestOutputHelper output)
{
    private const int DefaultTrials = 100;

    [Theory]
    [InlineData(PoolLayout.Striped)]
    [InlineData(PoolLayout.Mirrored)]
    public async Task Killed_at_random_moments_the_pool_keeps_every_acknowledged_write(PoolLayout layout)
    {
        int trials = int.TryParse(Environment.GetEnvironmentVariable("STRATA_CRASH_TRIALS"), out int n) ? n : DefaultTrials;
        int baseSeed = int.TryParse(Environment.GetEnvironmentVariable("STRATA_CRASH_SEED"), out int s) ? s : 20261126;
        var random = new Random(baseSeed + (int)layout);
        using var dir = new TempDirectory(inMemory: true); // kill -9 keeps the page cache: tmpfs loses nothing a disk would keep
        string[] paths = [dir.File("a"), dir.File("b")];
        var baseline = new byte[CrashWorkload.VolumeBytes];
        var stats = new TrialStats();
        for (int t = 0; t < trials; t++)
        {
            int seed = baseSeed + t * 7919 + (int)layout;
            int killAfterLines = random.Next(0, 40);
            int spin = random.Next(0, 200_000);
            var lines = await RunAndKillAsync(seed, layout, paths, killAfterLines, spin);
            try
            {
                baseline = await VerifyAsync(seed, paths, baseline, lines, stats);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException(
                    $"trial {t} (worker seed {seed}, killed after {lines.Count} line(s): {string.Join(" | ", lines.TakeLast(6))}) failed; soak or replay with STRATA_CRASH_SEED={baseSeed} STRATA_CRASH_TRIALS={t + 1}\n{e}");
            }
        }

        output.WriteLine($"{trials} kills: {stats.NotReady} before the pool was ready, {stats.Batches} durable batches and {stats.Snapshots} snapshots verified, {stats.Ambiguous} in-flight blocks found in an allowed state");
        Assert.True(stats.Batches > trials, "the workload hardly ran before the kills; the test proves little");
    }

    private static async Task<List<string>> RunAndKillAsync(int seed, PoolLayout layout, string[] paths, int killAfterLines, int spin)
    {
        var worker = Path.Combine(AppContext.BaseDirectory, "Strata.Pool.CrashWorker.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { worker, seed.ToString(), layout.ToString() }.Concat(paths))
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        while (lines.Count < killAfterLines && await process.StandardOutput.ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        Thread.SpinWait(spin); // the kill lands at a random point of whatever the worker does next
        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // it had already exited: only an error does that, reported below
        }

        while (await process.StandardOutput.ReadLineAsync() is { } rest)
        {
            lines.Add(rest); // promises made before the kill still count
        }

        await process.WaitForExitAsync();
        string errors = await stderr;
        if (errors.Length > 0 && !errors.Contains("Killed", StringComparison.Ordinal))
        {
            throw new Xunit.Sdk.XunitException($"the worker failed before it was killed: {errors}");
        }

        return lines;
    }

    /// <summary>Checks the pool at <paramref name="paths"/> against the promises in <paramref name="lines"/> (see the worker); returns the volume's image.</summary>
    internal static async Task<byte[]> VerifyAsync(int seed, string[] paths, byte[] baseline, List<string> lines, TrialStats stats)
    {
        bool ready = lines.Contains("ready");
        var durable = lines.Where(l => l.StartsWith("durable ", StringComparison.Ordinal)).Select(l => int.Parse(l[8..])).DefaultIfEmpty(0).Max();
        var fua = lines.Where(l => l.StartsWith("fua ", StringComparison.Ordinal)).Select(l => l[4..].Split(' ')).Select(p => (Batch: int.Parse(p[0]), Op: int.Parse(p[1]))).ToHashSet();
        var snapshotted = lines.Where(l => l.StartsWith("snapshot ", StringComparison.Ordinal)).Select(l => int.Parse(l[9..])).ToHashSet();
        var deleted = lines.Where(l => l.StartsWith("deleted ", StringComparison.Ordinal)).Select(l => int.Parse(l[8..])).ToHashSet();

        StoragePool pool;
        try
        {
            pool = await StoragePool.OpenAsync(paths);
        }
        catch (Exception e) when (!ready && e is PoolException or FileNotFoundException)
        {
            // Killed while the pool was being created: it was never acknowledged. Start again from nothing.
            foreach (var p in paths)
            {
                File.Delete(p);
            }

            stats.NotReady++;
            return new byte[CrashWorkload.VolumeBytes];
        }

        try
        {
            var report = await pool.CheckAsync();
            Assert.True(report.Ok, report.ToString());
            if (pool.FindVolume(CrashWorkload.Volume) is null)
            {
                Assert.False(ready, "the worker said ready, but its volume is gone");
                stats.NotReady++;
                return baseline;
            }

            if (!ready)
            {
                stats.NotReady++;
            }

            // What each batch leaves, from the baseline on; the images after snapshot batches are kept.
            var expected = (byte[])baseline.Clone();
            var images = new Dictionary<int, byte[]>();
            for (int b = 1; b <= durable; b++)
            {
                Apply(expected, seed, b);
                if (b % CrashWorkload.SnapshotEvery == 0)
                {
                    images[b] = (byte[])expected.Clone();
                }
            }

            var actual = await ReadAllAsync(pool, CrashWorkload.Volume);
            int inFlightBatch = durable + 1;
            var inFlight = CrashWorkload.Batch(seed, inFlightBatch);
            var touched = new Dictionary<long, (int Op, WorkloadOp What)>();
            for (int i = 0; i < inFlight.Count; i++)
            {
                for (long lba = inFlight[i].Lba; lba < inFlight[i].Lba + inFlight[i].Blocks; lba++)
                {
                    touched[lba] = (i, inFlight[i]);
                }
            }

            var block = new byte[CrashWorkload.BlockSize];
            for (long lba = 0; lba < CrashWorkload.Blocks; lba++)
            {
                var got = actual.AsSpan((int)(lba * CrashWorkload.BlockSize), CrashWorkload.BlockSize);
                var want = expected.AsSpan((int)(lba * CrashWorkload.BlockSize), CrashWorkload.BlockSize);
                if (!touched.TryGetValue(lba, out var op))
                {
                    Assert.True(got.SequenceEqual(want), $"block {lba} holds {CrashWorkload.Describe(got)}, but the last flush left {CrashWorkload.Describe(want)}");
                    continue;
                }

                if (op.What.Unmap)
                {
                    Array.Clear(block);
                }
                else
                {
                    CrashWorkload.Fill(block, seed, inFlightBatch, op.Op, lba);
                }

                bool acknowledged = fua.Contains((inFlightBatch, op.Op));
                bool ok = got.SequenceEqual(block) || (!acknowledged && got.SequenceEqual(want));
                Assert.True(ok, $"block {lba} holds {CrashWorkload.Describe(got)}; allowed: {CrashWorkload.Describe(block)}{(acknowledged ? " (a completed FUA write)" : $" or {CrashWorkload.Describe(want)}")}");
                if (!got.SequenceEqual(want))
                {
                    stats.Ambiguous++;
                }
            }

            foreach (var info in pool.ListVolumes().Where(v => v.Kind == Strata.Pool.Space.VolumeKind.Snapshot).ToArray())
            {
                int b = int.Parse(info.Name[(info.Name.IndexOf('@') + 2)..]);
                Assert.False(deleted.Contains(b), $"snapshot {info.Name} was deleted, and is back");
                Assert.True(images.ContainsKey(b), $"snapshot {info.Name} exists, but batch {b} was never flushed");
                var content = await ReadAllAsync(pool, info.Name);
                Assert.True(content.AsSpan().SequenceEqual(images[b]), $"snapshot {info.Name} does not hold what the volume held after batch {b}");
                stats.Snapshots++;
                await pool.DeleteAsync(info.Name);
            }

            foreach (var b in snapshotted.Except(deleted))
            {
                Assert.True(images.ContainsKey(b) && stats.Snapshots > 0, $"snapshot b{b} was acknowledged, and is missing");
            }

            stats.Batches += durable;
            return actual;
        }
        finally
        {
            await pool.AbandonAsync(); // leave it as a crash would: the next worker recovers it
        }
    }

    private static void Apply(byte[] image, int seed, int batch)
    {
        var ops = CrashWorkload.Batch(seed, batch);
        for (int i = 0; i < ops.Count; i++)
        {
            for (long lba = ops[i].Lba; lba < ops[i].Lba + ops[i].Blocks; lba++)
            {
                var block = image.AsSpan((int)(lba * CrashWorkload.BlockSize), CrashWorkload.BlockSize);
                if (ops[i].Unmap)
                {
                    block.Clear();
                }
                else
                {
                    CrashWorkload.Fill(block, seed, batch, i, lba);
                }
            }
        }
    }

    private static async Task<byte[]> ReadAllAsync(StoragePool pool, string name)
    {
        var volume = pool.OpenVolume(name);
        await using (volume)
        {
            var image = new byte[volume.BlockCount * volume.BlockSize];
            for (int offset = 0; offset < image.Length; offset += 1 << 20)
            {
                int n = Math.Min(1 << 20, image.Length - offset);
                await volume.ReadAsync(offset / volume.BlockSize, image.AsMemory(offset, n));
            }

            return image;
        }
    }

    internal sealed class TrialStats
    {
        public int NotReady;
        public long Batches;
        public int Snapshots;
        public long Ambiguous;
    }
}
