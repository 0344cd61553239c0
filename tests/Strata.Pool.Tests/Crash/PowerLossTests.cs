using Strata.Blocks;
using Strata.Pool.CrashWorker;
using Xunit;
using Xunit.Abstractions;

namespace Strata.Pool.Tests.Crash;

/// <summary>
/// Power loss, simulated below the pool: the vdevs have a volatile write cache (<see cref="PowerLossDevice"/>),
/// and when the power is cut at a random I/O, every sector written since the last flush keeps its old content
/// or any newer one, at random, torn writes included. The pool must then open, pass <c>pool check</c> and keep
/// every acknowledged write and snapshot, exactly as after <c>kill -9</c>. This is what the ordering rules
/// (data synced before the metadata that maps it, superblock after checkpoint) are for: <c>kill -9</c> alone
/// cannot catch a missing sync, because the page cache survives it.
/// </summary>
public sealed class PowerLossTests(ITestOutputHelper output)
{
    private const int DefaultTrials = 30;

    [Theory]
    [InlineData(PoolLayout.Striped)]
    [InlineData(PoolLayout.Mirrored)]
    public async Task Power_cut_at_random_I_O_loses_no_acknowledged_write(PoolLayout layout)
    {
        int trials = int.TryParse(Environment.GetEnvironmentVariable("STRATA_POWER_TRIALS"), out int n) ? n : DefaultTrials;
        int baseSeed = int.TryParse(Environment.GetEnvironmentVariable("STRATA_CRASH_SEED"), out int s) ? s : 20261126;
        int? only = int.TryParse(Environment.GetEnvironmentVariable("STRATA_POWER_TRIAL"), out int o) ? o : null;
        var stats = new CrashTests.TrialStats();
        for (int t = only ?? 0; t < (only + 1 ?? trials); t++)
        {
            int seed = baseSeed + t * 104729 + (int)layout;
            var random = new Random(seed); // per trial, so one trial replays alone (the cut point still depends on timing)
            int cutAfter = random.Next(10, 1500);
            using var dir = new TempDirectory(inMemory: true);
            string[] paths = [dir.File("a"), dir.File("b")];
            var lines = new List<string>();
            var power = new PowerSupply(cutAfter);
            var devices = new List<PowerLossDevice>();
            StoragePool? pool = null;
            try
            {
                pool = await StoragePool.CreateAsync(
                    new PoolCreateOptions
                    {
                        Name = "power",
                        Layout = layout,
                        ChunkSize = CrashWorkload.ChunkSize,
                        MetadataBytes = 512 * 1024,
                        Vdevs = paths.Select(p => new VdevSpec(p, CrashWorkload.VdevBytes)).ToArray(),
                    },
                    (path, size) =>
                    {
                        var d = new PowerLossDevice(FileBlockDevice.Open(path, size, 512), power);
                        lock (devices)
                        {
                            devices.Add(d);
                        }

                        return d;
                    });
                await CrashWorkload.RunAsync(pool, seed, line =>
                {
                    lock (lines)
                    {
                        lines.Add(line);
                    }
                });
            }
            catch (Exception) when (power.IsCut)
            {
                // the cut: every I/O from then on fails, and so does whatever the pool was doing
            }

            if (pool is not null)
            {
                await pool.AbandonAsync();
            }

            foreach (var d in devices)
            {
                await d.ApplyCutAsync(random);
                await d.CloseAsync();
            }

            try
            {
                await CrashTests.VerifyAsync(seed, paths, new byte[CrashWorkload.VolumeBytes], lines, stats);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException(
                    $"trial {t} (seed {seed}, power cut after {cutAfter} I/O calls, {lines.Count} promise(s): {string.Join(" | ", lines.TakeLast(6))}) failed; replay with STRATA_CRASH_SEED={baseSeed} STRATA_POWER_TRIAL={t}\n{e}");
            }
        }

        output.WriteLine($"{(only is null ? trials : 1)} power cut(s): {stats.NotReady} before the pool was ready, {stats.Batches} durable batches and {stats.Snapshots} snapshots verified, {stats.Ambiguous} in-flight blocks found in an allowed state");
        Assert.True(only is not null || stats.Batches > trials, "the workload hardly ran before the cuts; the test proves little");
    }
}
