using Strata.Blocks;
using Xunit;

namespace Strata.Pool.Tests.Faults;

/// <summary>When the pool is full, writes that need a chunk fail with NoSpace and nothing else breaks.</summary>
public sealed class FullPoolTests
{
    [Fact]
    public async Task Writes_fail_cleanly_when_full_and_work_again_once_a_snapshot_is_deleted()
    {
        using var dir = new TempDirectory();
        var paths = PoolFixture.Paths(dir, 1);
        var pool = await PoolFixture.CreateAsync(dir, vdevBytes: 4L << 20); // a few hundred 16 KiB chunks
        long capacity = pool.CapacityBytes;
        await pool.CreateVolumeAsync("v", capacity); // thin: as big as the pool
        var v = pool.OpenVolume("v");
        var data = PoolFixture.Pattern((int)capacity, seed: 5);
        await v.WriteAsync(0, data, WriteFlags.None);
        await v.FlushAsync();
        Assert.Equal(0, pool.FreeBytes);

        await pool.SnapshotAsync("v", "full");
        var overwrite = PoolFixture.Pattern(64 * 1024, seed: 6);
        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await v.WriteAsync(0, overwrite, WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.NoSpace, e.Kind);
        Assert.Contains("is full", e.Message);

        // Nothing broke: every byte is still there, reads work, flush works, the pool checks clean.
        var back = new byte[data.Length];
        await v.ReadAsync(0, back);
        Assert.Equal(data, back);
        await v.FlushAsync();
        var report = await pool.CheckAsync();
        Assert.True(report.Ok, report.ToString());
        Assert.Equal(pool.CapacityChunks, pool.AllocatedChunks);

        // Deleting the snapshot frees the chunks only it held (none: the volume still maps them all)...
        await pool.DeleteAsync("v@full");
        // ...but now the volume owns its chunks alone again, so overwrites go in place.
        await v.WriteAsync(0, overwrite, WriteFlags.None);

        // Unmapping frees chunks: a second volume can then take them.
        await v.UnmapAsync(0, (1 << 20) / 512);
        await v.FlushAsync();
        Assert.Equal(1 << 20, pool.FreeBytes);
        await pool.CreateVolumeAsync("w", 1 << 20);
        var w = pool.OpenVolume("w");
        var second = PoolFixture.Pattern(1 << 20, seed: 7);
        await w.WriteAsync(0, second, WriteFlags.None);
        await w.DisposeAsync();
        await v.DisposeAsync();
        await pool.DisposeAsync();

        pool = await StoragePool.OpenAsync(paths);
        await using (pool)
        {
            Assert.Equal(second, await PoolFixture.ReadVolumeAsync(pool, "w"));
            var rest = await PoolFixture.ReadVolumeAsync(pool, "v");
            Assert.True(rest.AsSpan(0, 1 << 20).IndexOfAnyExcept((byte)0) < 0);
            Assert.Equal(data.AsSpan(1 << 20).ToArray(), rest.AsSpan(1 << 20).ToArray());
            var report2 = await pool.CheckAsync();
            Assert.True(report2.Ok, report2.ToString());
        }
    }

    [Fact]
    public async Task A_write_that_needs_chunks_freed_since_the_last_commit_waits_for_them_instead_of_failing()
    {
        using var dir = new TempDirectory();
        var pool = await PoolFixture.CreateAsync(dir, vdevBytes: 2L << 20);
        await using (pool)
        {
            await pool.CreateVolumeAsync("v", pool.CapacityBytes);
            var v = pool.OpenVolume("v");
            var data = PoolFixture.Pattern((int)pool.CapacityBytes, seed: 8);
            await v.WriteAsync(0, data, WriteFlags.None);
            await v.UnmapAsync(0, pool.CapacityBytes / 512); // frees every chunk, not yet committed
            await v.WriteAsync(0, data, WriteFlags.None); // needs them all again
            var back = new byte[data.Length];
            await v.ReadAsync(0, back);
            Assert.Equal(data, back);
            await v.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_overcommit_limit_refuses_volumes_beyond_it()
    {
        using var dir = new TempDirectory();
        var pool = await StoragePool.CreateAsync(new PoolCreateOptions
        {
            Name = "o",
            ChunkSize = 16 * 1024,
            MetadataBytes = 256 * 1024,
            OvercommitLimitBytes = 3L << 20,
            Vdevs = [new VdevSpec(dir.File("o0"), 4L << 20)],
        });
        await using (pool)
        {
            await pool.CreateVolumeAsync("a", 2L << 20);
            var e = await Assert.ThrowsAsync<PoolException>(() => pool.CreateVolumeAsync("b", 2L << 20));
            Assert.Contains("overcommit limit", e.Message);
            Assert.Single(pool.ListVolumes());
        }
    }
}
