using Strata.Replication.Server;

namespace Strata.Replication.Tests;

/// <summary>The replica's write-intent bitmap on its own: durable before a change, coalesced, and cleared only when safe.</summary>
public sealed class WriteIntentLogTests
{
    private const int Block = 4096;
    private const int RegionBlocks = 16;

    /// <summary>The log, setting only the regions a change touches (none ahead), unless <paramref name="setAhead"/> says.</summary>
    private static WriteIntentLog Open(TempDirectory dir, long blocks = 1024, int setAhead = 0)
    {
        var log = WriteIntentLog.Open(dir.File("pvc-1.intent"), Block, blocks, RegionBlocks * Block);
        log.SetAhead = setAhead;
        return log;
    }

    [Fact]
    public async Task A_sequential_writer_gets_the_next_regions_set_with_the_same_fsync()
    {
        using var dir = new TempDirectory();
        await using var log = Open(dir, setAhead: 3);
        await ChangeAsync(log, 0);
        await ChangeAsync(log, 1); // the region before is set: 1 and the 3 after it, one fsync
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, Set(log));
        long commits = log.Commits;
        await ChangeAsync(log, 2);
        await ChangeAsync(log, 4);
        Assert.Equal(commits, log.Commits); // already durable: no fsync

        await ChangeAsync(log, 20); // alone: only its own region
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 20 }, Set(log));

        // Set ahead and never written: cleared at the next settle like any region without a change since the flush.
        Assert.Equal(6, log.Settle(log.FlushStarting()));
        Assert.Empty(Set(log));
    }

    [Fact]
    public async Task A_set_bit_is_on_disk_before_the_change_may_go_ahead()
    {
        using var dir = new TempDirectory();
        var log = Open(dir);
        Assert.False(log.Recovered);
        Assert.Equal(64, log.Regions);
        Assert.Equal(RegionBlocks * Block, log.RegionBytes);

        // Blocks 30-33 span regions 1 and 2.
        await log.Begin(30, 4);
        Assert.Equal(1, log.Commits);

        // Killed before anything else: the change may have reached the disk, so its regions must be set.
        await log.DisposeAsync();
        var reopened = Open(dir);
        Assert.True(reopened.Recovered);
        Assert.Equal(new long[] { 1, 2 }, Set(reopened));
        await reopened.DisposeAsync();
    }

    [Fact]
    public async Task A_change_to_a_set_region_goes_ahead_at_once_without_a_write()
    {
        using var dir = new TempDirectory();
        await using var log = Open(dir);
        await ChangeAsync(log, 0);
        long commits = log.Commits;

        var again = log.Begin(5, 3);
        Assert.True(again.IsCompletedSuccessfully);
        log.End(5, 3);
        Assert.Equal(commits, log.Commits);
    }

    [Fact]
    public async Task Setters_that_come_while_a_batch_waits_share_one_fsync()
    {
        using var dir = new TempDirectory();
        await using var log = Open(dir);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        log.BeforeBatch = () => hold.Task;

        var changes = Enumerable.Range(0, 40).Select(i => log.Begin(i * RegionBlocks, 1).AsTask()).ToList();
        Assert.All(changes, c => Assert.False(c.IsCompleted)); // none goes ahead before its bit is on disk
        hold.SetResult();
        await Task.WhenAll(changes);

        Assert.Equal(1, log.Commits);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (long)i), Set(log));
    }

    [Fact]
    public async Task Settle_leaves_a_region_with_a_change_in_flight_or_one_after_the_flush()
    {
        using var dir = new TempDirectory();
        await using var log = Open(dir);
        await ChangeAsync(log, 0);           // region 0: completes before the flush
        await log.Begin(RegionBlocks, 1);    // region 1: still in flight at the flush, and at the settle
        await log.Begin(2 * RegionBlocks, 1); // region 2: started before the flush, ends after it was received
        int flush = log.FlushStarting();
        log.End(2 * RegionBlocks, 1);
        await ChangeAsync(log, 3);           // region 3: a change after the flush was received

        Assert.Equal(1, log.Settle(flush));
        Assert.Equal(new long[] { 1, 2, 3 }, Set(log));

        // A later flush that came after all of them settles what is no longer in flight.
        int later = log.FlushStarting();
        Assert.Equal(2, log.Settle(later));
        Assert.Equal(new long[] { 1 }, Set(log));
        log.End(RegionBlocks, 1);
        Assert.Equal(0, log.Settle(later)); // it ended after that flush was received
        Assert.Equal(1, log.Settle(log.FlushStarting()));
        Assert.Empty(Set(log));
    }

    [Fact]
    public async Task A_settle_with_no_completed_flush_clears_nothing()
    {
        using var dir = new TempDirectory();
        await using var log = Open(dir);
        await ChangeAsync(log, 0);
        Assert.Equal(0, log.Settle(1));
        Assert.Equal(new long[] { 0 }, Set(log));
    }

    [Fact]
    public async Task Clearing_is_written_lazily_and_a_region_set_again_is_written_again()
    {
        using var dir = new TempDirectory();
        var log = Open(dir);
        await ChangeAsync(log, 0);
        await ChangeAsync(log, 1);
        Assert.Equal(2, log.Settle(log.FlushStarting()));

        // The clear reaches the file in the background; the settle did not wait for it.
        await log.IdleAsync();
        await log.DisposeAsync();
        log = Open(dir);
        Assert.Empty(Set(log));
        Assert.False(log.Recovered);

        // Set again after it was cleared: a new write, durable before the change goes ahead.
        long commits = log.Commits;
        await log.Begin(RegionBlocks, 1);
        Assert.Equal(commits + 1, log.Commits);
        await log.DisposeAsync();
        log = Open(dir);
        Assert.Equal(new long[] { 1 }, Set(log));
        await log.DisposeAsync();
    }

    [Fact]
    public async Task A_bitmap_that_cannot_be_read_or_is_of_another_geometry_counts_as_every_region_set()
    {
        using var dir = new TempDirectory();
        await (Open(dir)).DisposeAsync();
        var bytes = await File.ReadAllBytesAsync(dir.File("pvc-1.intent"));
        bytes[9] ^= 0xFF; // the region size, under the header's CRC
        await File.WriteAllBytesAsync(dir.File("pvc-1.intent"), bytes);

        await using (var corrupt = Open(dir))
        {
            Assert.True(corrupt.Recovered);
            Assert.Equal(64, Set(corrupt).Count);
        }

        // Opened for a volume of another size: the bitmap says nothing about it.
        await using var resized = Open(dir, blocks: 1000);
        Assert.Equal(63, resized.Regions);
        Assert.Equal(63, Set(resized).Count);
    }

    [Fact]
    public async Task Settle_racing_with_changes_never_leaves_a_change_applied_under_a_clear_bit()
    {
        using var dir = new TempDirectory();
        await using var log = WriteIntentLog.Open(null, Block, 64, RegionBlocks * Block);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        int violations = 0;
        var changes = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await log.Begin(w % 4 * RegionBlocks / 4, 1);

                // Applied now: its region must be set until it ends.
                if (!log.IsSet(0))
                {
                    Interlocked.Increment(ref violations);
                }

                log.End(w % 4 * RegionBlocks / 4, 1);
            }
        })).ToList();
        var settling = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                log.Settle(log.FlushStarting());
            }
        });
        await Task.WhenAll([.. changes, settling]);
        Assert.Equal(0, violations);
    }

    [Fact]
    public async Task The_set_regions_come_out_as_a_bitmap_lsb_first()
    {
        using var dir = new TempDirectory();
        await using var log = Open(dir);
        foreach (long region in new long[] { 0, 3, 9, 63 })
        {
            await ChangeAsync(log, region);
        }

        var bytes = new byte[2];
        log.CopyTo(2, 10, bytes); // regions 2-11
        Assert.Equal(new byte[] { 0x82, 0x00 }, bytes); // region 3 at bit 1, region 9 at bit 7
        Assert.Equal(new long[] { 0, 3, 9, 63 }, Set(log));
    }

    /// <summary>A change to region <paramref name="region"/> that starts and completes.</summary>
    private static async Task ChangeAsync(WriteIntentLog log, long region)
    {
        await log.Begin(region * RegionBlocks, 1);
        log.End(region * RegionBlocks, 1);
    }

    private static List<long> Set(WriteIntentLog log)
    {
        var set = log.ToIntent().Set;
        var regions = new List<long>();
        for (long r = set.NextSet(0); r >= 0; r = set.NextSet(r + 1))
        {
            regions.Add(r);
        }

        return regions;
    }
}
