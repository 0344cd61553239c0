using Xunit;

namespace Strata.Pool.Tests.Faults;

/// <summary>A mirrored pool loses a vdev while closed, opens Degraded with every byte, and <c>pool replace</c> restores it.</summary>
public sealed class MirrorTests
{
    [Theory]
    [InlineData("deleted")]
    [InlineData("zeroed")]
    public async Task A_mirror_missing_a_vdev_opens_degraded_with_its_data_and_replace_restores_redundancy(string how)
    {
        using var dir = new TempDirectory();
        var paths = PoolFixture.Paths(dir, 4);
        var pool = await PoolFixture.CreateAsync(dir, PoolLayout.Mirrored, vdevs: 4);
        var data = await PoolFixture.WriteVolumeAsync(pool, "v", 3 << 20, seed: 1);
        await pool.SnapshotAsync("v", "before");
        await pool.DisposeAsync();

        if (how == "deleted")
        {
            File.Delete(paths[1]);
        }
        else
        {
            await File.WriteAllBytesAsync(paths[1], new byte[new FileInfo(paths[1]).Length]);
        }

        var open = how == "deleted" ? paths.Where(p => p != paths[1]).ToArray() : paths;
        pool = await StoragePool.OpenAsync(open);
        await using (pool)
        {
            Assert.Equal(PoolHealth.Degraded, pool.Health);
            var lost = pool.Vdevs[1];
            Assert.Equal(VdevState.Faulted, lost.State);
            Assert.Contains("missing", lost.FaultReason);
            Assert.Equal(data, await PoolFixture.ReadVolumeAsync(pool, "v"));
            Assert.Equal(data, await PoolFixture.ReadVolumeAsync(pool, "v@before"));

            // Writes go on while degraded, and land on the surviving half.
            var more = PoolFixture.Pattern(1 << 20, seed: 2);
            var v = pool.OpenVolume("v");
            await v.WriteAsync(0, more, Strata.Blocks.WriteFlags.None);
            await v.FlushAsync();
            await v.DisposeAsync();
            more.CopyTo(data, 0);

            string replacement = dir.File("new1");
            var seen = new List<(long Done, long Total)>();
            await pool.ReplaceVdevAsync(1, replacement, new Progress<(long, long)>(seen.Add));
            Assert.Equal(PoolHealth.Online, pool.Health);
            var report = await pool.CheckAsync();
            Assert.True(report.Ok, report.ToString());
            Assert.Contains(report.Findings, f => f.Text.StartsWith("mirror halves agree", StringComparison.Ordinal));
        }

        // The replacement holds everything: open with it alone on its side of the mirror, the old path gone.
        var replaced = new[] { paths[0], dir.File("new1"), paths[2], paths[3] };
        pool = await StoragePool.OpenAsync(replaced);
        await using (pool)
        {
            Assert.Equal(PoolHealth.Online, pool.Health);
            Assert.Equal(data, await PoolFixture.ReadVolumeAsync(pool, "v"));
        }

        // And the other half can now go: the replacement alone serves every chunk of that mirror.
        File.Delete(paths[0]);
        pool = await StoragePool.OpenAsync(replaced.Skip(1).ToArray());
        await using (pool)
        {
            Assert.Equal(PoolHealth.Degraded, pool.Health);
            Assert.Equal(data, await PoolFixture.ReadVolumeAsync(pool, "v"));
        }
    }

    [Fact]
    public async Task A_vdev_that_missed_writes_is_not_trusted_when_it_comes_back()
    {
        using var dir = new TempDirectory();
        var paths = PoolFixture.Paths(dir, 2);
        var pool = await PoolFixture.CreateAsync(dir, PoolLayout.Mirrored, vdevs: 2);
        await PoolFixture.WriteVolumeAsync(pool, "v", 1 << 20, seed: 1);
        await pool.DisposeAsync();

        // vdev 1 is away while the volume is rewritten...
        File.Move(paths[1], paths[1] + ".away");
        pool = await StoragePool.OpenAsync([paths[0]]);
        var newer = PoolFixture.Pattern(1 << 20, seed: 2);
        var v = pool.OpenVolume("v");
        await v.WriteAsync(0, newer, Strata.Blocks.WriteFlags.None);
        await v.FlushAsync();
        await v.DisposeAsync();
        await pool.DisposeAsync();

        // ...and comes back stale: the pool stays Degraded and reads only the current half.
        File.Move(paths[1] + ".away", paths[1]);
        pool = await StoragePool.OpenAsync(paths);
        await using (pool)
        {
            Assert.Equal(PoolHealth.Degraded, pool.Health);
            Assert.Contains("missed writes", pool.Vdevs[1].FaultReason);
            for (int i = 0; i < 4; i++)
            {
                Assert.Equal(newer, await PoolFixture.ReadVolumeAsync(pool, "v")); // reads alternate halves; none may be stale
            }

            await pool.ReplaceVdevAsync(1, paths[1]); // re-adding the same file resilvers it
            Assert.Equal(PoolHealth.Online, pool.Health);
        }

        pool = await StoragePool.OpenAsync(paths);
        await using (pool)
        {
            Assert.Equal(PoolHealth.Online, pool.Health);
            Assert.Equal(newer, await PoolFixture.ReadVolumeAsync(pool, "v"));
        }
    }
}
