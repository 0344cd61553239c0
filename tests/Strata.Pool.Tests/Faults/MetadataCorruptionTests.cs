using Strata.Blocks;
using Xunit;

namespace Strata.Pool.Tests.Faults;

/// <summary>
/// Torn and corrupted metadata blocks, injected on disk while the pool is closed: each is detected by its
/// checksum and the pool recovers the newest committed state from what is intact.
/// </summary>
public sealed class MetadataCorruptionTests
{
    private const long LabelA = 0;
    private const long LabelB = 4096;
    private const long Superblock0 = 8192;
    private const long Superblock1 = 12288;
    private const long Ring = 16384;

    [Fact]
    public async Task A_torn_newest_superblock_falls_back_to_the_older_slot_and_loses_no_commit()
    {
        using var dir = new TempDirectory();
        var (paths, data) = await PoolWithHistoryAsync(dir);
        long newest = NewestSuperblockOffset(paths[0]);
        Tear(paths[0], newest, 4096, keep: 1000); // the first 1000 bytes made it, the rest is old garbage

        await AssertRecoveredAsync(paths, data);
    }

    [Fact]
    public async Task A_corrupted_checkpoint_is_recovered_through_the_older_checkpoint_and_the_log()
    {
        using var dir = new TempDirectory();
        var (paths, data) = await PoolWithHistoryAsync(dir);
        long checkpoint = CheckpointOffset(paths[0], NewestSuperblockOffset(paths[0]));
        FlipByte(paths[0], checkpoint + 100);

        await AssertRecoveredAsync(paths, data);
    }

    [Fact]
    public async Task A_torn_last_log_batch_is_dropped_and_what_was_acknowledged_before_it_stays()
    {
        using var dir = new TempDirectory();
        var paths = PoolFixture.Paths(dir, 1);
        var pool = await PoolFixture.CreateAsync(dir);
        var data = await PoolFixture.WriteVolumeAsync(pool, "v", 1 << 20, seed: 1);
        var v = pool.OpenVolume("v");
        var extra = PoolFixture.Pattern(64 * 1024, seed: 9);
        await v.WriteAsync((1 << 20) / 512 - 128, extra, WriteFlags.None); // overwrites in place, and...
        await v.DisposeAsync();
        await pool.GrowAsync("v", 2 << 20); // ...a last batch, which we tear
        await pool.AbandonAsync();
        long last = LastBatchOffset(paths[0]);
        Tear(paths[0], last, 4096, keep: 70);

        pool = await StoragePool.OpenAsync(paths);
        await using (pool)
        {
            Assert.Equal(1 << 20, pool.FindVolume("v")!.SizeBytes); // the torn grow never happened
            var report = await pool.CheckAsync();
            Assert.True(report.Ok, report.ToString());
        }
    }

    [Fact]
    public async Task A_damaged_label_copy_is_reported_and_the_other_copy_opens_the_pool()
    {
        using var dir = new TempDirectory();
        var (paths, data) = await PoolWithHistoryAsync(dir);
        FlipByte(paths[0], LabelA + 40);

        var pool = await StoragePool.OpenAsync(paths);
        await using (pool)
        {
            Assert.Equal(data, await PoolFixture.ReadVolumeAsync(pool, "v"));
            var report = await pool.CheckAsync();
            Assert.True(report.Ok, report.ToString());
            Assert.Contains(report.Findings, f => f.Severity == Check.FindingSeverity.Warning && f.Text.Contains("label A is damaged"));
        }

        FlipByte(paths[0], LabelB + 40);
        var e = await Assert.ThrowsAsync<PoolException>(() => StoragePool.OpenAsync(paths));
        Assert.Contains("not a Strata pool vdev", e.Message);
    }

    [Fact]
    public async Task Both_superblocks_destroyed_is_a_clear_error_not_an_empty_pool()
    {
        using var dir = new TempDirectory();
        var (paths, _) = await PoolWithHistoryAsync(dir);
        FlipByte(paths[0], Superblock0 + 20);
        FlipByte(paths[0], Superblock1 + 20);
        var e = await Assert.ThrowsAsync<PoolException>(() => StoragePool.OpenAsync(paths));
        Assert.Contains("no valid superblock", e.Message);
    }

    [Fact]
    public async Task Garbage_in_every_checkpoint_is_a_clear_error()
    {
        using var dir = new TempDirectory();
        var (paths, _) = await PoolWithHistoryAsync(dir);
        foreach (var sb in new[] { Superblock0, Superblock1 })
        {
            FlipByte(paths[0], CheckpointOffset(paths[0], sb) + 80);
        }

        var e = await Assert.ThrowsAsync<PoolException>(() => StoragePool.OpenAsync(paths));
        Assert.Contains("cannot be recovered", e.Message);
    }

    /// <summary>The pool opens with the volume's data and its snapshot, and checks clean.</summary>
    private static async Task AssertRecoveredAsync(string[] paths, byte[] data)
    {
        var pool = await StoragePool.OpenAsync(paths);
        await using (pool)
        {
            Assert.Equal(data, await PoolFixture.ReadVolumeAsync(pool, "v"));
            Assert.Equal(2, pool.ListVolumes().Count);
            var report = await pool.CheckAsync();
            Assert.True(report.Ok, report.ToString());
        }
    }

    /// <summary>A pool closed cleanly after a volume, a snapshot, and enough commits that both superblock slots are in use.</summary>
    private static async Task<(string[] Paths, byte[] Data)> PoolWithHistoryAsync(TempDirectory dir)
    {
        var pool = await PoolFixture.CreateAsync(dir);
        var data = await PoolFixture.WriteVolumeAsync(pool, "v", 1 << 20, seed: 1);
        await pool.SnapshotAsync("v", "s");
        await pool.DisposeAsync();
        pool = await StoragePool.OpenAsync(PoolFixture.Paths(dir, 1));
        await pool.DisposeAsync();
        return (PoolFixture.Paths(dir, 1), data);
    }

    private static long NewestSuperblockOffset(string path)
    {
        using var f = File.OpenRead(path);
        var a = ReadAt(f, Superblock0, 48);
        var b = ReadAt(f, Superblock1, 48);
        return BitConverter.ToUInt64(a, 32) > BitConverter.ToUInt64(b, 32) ? Superblock0 : Superblock1;
    }

    private static long CheckpointOffset(string path, long superblock)
    {
        using var f = File.OpenRead(path);
        ulong lsn = BitConverter.ToUInt64(ReadAt(f, superblock, 48), 40);
        return Ring + (long)(lsn % (256 * 1024));
    }

    /// <summary>The ring offset of the batch with the highest LSN.</summary>
    private static long LastBatchOffset(string path)
    {
        using var f = File.OpenRead(path);
        long best = -1;
        ulong bestLsn = 0;
        for (long pos = 0; pos < 256 * 1024; pos += 4096)
        {
            var h = ReadAt(f, Ring + pos, 24);
            if (BitConverter.ToUInt32(h, 0) == 0x474F4C53 && BitConverter.ToUInt64(h, 8) >= bestLsn)
            {
                bestLsn = BitConverter.ToUInt64(h, 8);
                best = Ring + pos;
            }
        }

        Assert.True(best >= 0, "no log batch found");
        return best;
    }

    private static byte[] ReadAt(FileStream f, long offset, int count)
    {
        var buffer = new byte[count];
        f.Position = offset;
        f.ReadExactly(buffer);
        return buffer;
    }

    private static void FlipByte(string path, long offset)
    {
        using var f = File.Open(path, FileMode.Open, FileAccess.ReadWrite);
        var b = ReadAt(f, offset, 1);
        b[0] ^= 0x5A;
        f.Position = offset;
        f.Write(b);
    }

    /// <summary>A torn write: the first <paramref name="keep"/> bytes of the block survive, the rest is noise.</summary>
    private static void Tear(string path, long offset, int length, int keep)
    {
        using var f = File.Open(path, FileMode.Open, FileAccess.ReadWrite);
        var noise = new byte[length - keep];
        new Random(7).NextBytes(noise);
        f.Position = offset + keep;
        f.Write(noise);
    }
}
