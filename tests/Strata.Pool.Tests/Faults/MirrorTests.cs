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

    /// <summary>
    /// Both halves of a mirror fail at once (one controller, one cable): each failure used to see the other half
    /// still online and fault only its own, so both were faulted, and the next commit synced and logged to no vdev
    /// at all and acknowledged the flush. Found by the power-cut test.
    /// </summary>
    [Fact]
    public async Task When_both_halves_of_a_mirror_fail_at_once_no_flush_is_acknowledged()
    {
        for (int round = 0; round < 100; round++)
        {
            using var dir = new TempDirectory(inMemory: true);
            var outage = new Outage();
            var pool = await StoragePool.CreateAsync(
                new PoolCreateOptions
                {
                    Name = "p",
                    Layout = PoolLayout.Mirrored,
                    ChunkSize = 16 * 1024,
                    MetadataBytes = 256 * 1024,
                    Vdevs = PoolFixture.Paths(dir, 2).Select(p => new VdevSpec(p, 8L << 20)).ToArray(),
                },
                (path, size) => new OutageDevice(Strata.Blocks.FileBlockDevice.Open(path, size, 512), outage));
            await pool.CreateVolumeAsync("v", 4 << 20);
            var v = pool.OpenVolume("v");
            await v.WriteAsync(0, PoolFixture.Pattern(4 << 20, seed: round), Strata.Blocks.WriteFlags.None);
            await v.FlushAsync();

            // A read tries the half its chunk's number picks (odd: the second; the volume's chunks were mapped in
            // order), a write the first half first: failures on both halves are decided at the same moment.
            outage.Begin();
            var io = new List<Task>();
            var buffer = new byte[4096];
            for (int i = 0; i < 32; i++)
            {
                io.Add(v.ReadAsync((2 * i + 1) * 32, new byte[4096]).AsTask());
                io.Add(v.WriteAsync(2 * i * 32, buffer, Strata.Blocks.WriteFlags.None).AsTask());
            }

            Assert.True(SpinWait.SpinUntil(() => outage.Waiting == 96, TimeSpan.FromSeconds(30)), $"{outage.Waiting} of 96 I/Os reached the vdevs");
            outage.Strike();
            foreach (var t in io)
            {
                await Assert.ThrowsAnyAsync<IOException>(() => t);
            }

            await Assert.ThrowsAnyAsync<IOException>(() => v.FlushAsync().AsTask());
            Assert.Single(pool.Vdevs, x => x.State == VdevState.Online); // the last half is never faulted: its failure is the pool's
            await v.DisposeAsync();
            await pool.AbandonAsync();
        }
    }
}
