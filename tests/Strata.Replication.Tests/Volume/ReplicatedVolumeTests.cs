using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>The replication rules (docs/architecture.md) on in-memory replicas that fail on command.</summary>
public sealed partial class ReplicatedVolumeTests : IAsyncLifetime
{
    private const int Block = 4096;
    private VolumeRig _rig = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _rig.DisposeAsync();

    private static byte[] Pattern(long lba, int blocks, int version)
    {
        var data = new byte[blocks * Block];
        for (int i = 0; i < data.Length; i += 8)
        {
            BitConverter.TryWriteBytes(data.AsSpan(i), (lba + i / Block) * 1_000_003 + version);
        }

        return data;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Every_change_reaches_every_replica(int replicas)
    {
        _rig = new VolumeRig(replicas);
        var volume = await _rig.OpenAsync();
        for (int i = 0; i < 50; i++)
        {
            await volume.WriteAsync(i * 7 % 1000, Pattern(i * 7 % 1000, 3, i), WriteFlags.None);
        }

        await volume.UnmapAsync(100, 20);
        await volume.FlushAsync();

        _rig.AssertReplicasIdentical();
        Assert.All(_rig.Disks, d => Assert.True(d.BytesWritten >= 50 * 3 * Block));
        Assert.Equal(replicas, _rig.Store.InSync.Count);
        Assert.Empty(_rig.Store.History);
    }

    [Fact]
    public async Task Reads_are_spread_over_the_in_sync_replicas_and_retried_elsewhere_when_one_fails()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        var data = Pattern(10, 1, 1);
        await volume.WriteAsync(10, data, WriteFlags.None);
        var back = new byte[Block];
        for (int i = 0; i < 20; i++)
        {
            await volume.ReadAsync(10, back);
        }

        Assert.All(_rig.Disks, d => Assert.True(d.Reads >= 5, $"{d.Name} served {d.Reads} of 20 reads"));

        _rig[1].Kill();
        for (int i = 0; i < 10; i++)
        {
            back.AsSpan().Clear();
            await volume.ReadAsync(10, back);
            Assert.Equal(data, back);
        }

        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.SequenceEqual(["r0"]), "r1 recorded out of the set");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_failing_replica_leaves_the_set_and_writes_go_on_without_an_error(int replicas)
    {
        _rig = new VolumeRig(replicas);
        var volume = await _rig.OpenAsync();
        await volume.WriteAsync(0, Pattern(0, 1, 0), WriteFlags.None);

        _rig[replicas - 1].Kill();
        for (int i = 1; i < 40; i++)
        {
            await volume.WriteAsync(i, Pattern(i, 1, i), WriteFlags.None);
        }

        await volume.FlushAsync();
        string dead = $"r{replicas - 1}";
        Assert.DoesNotContain(dead, _rig.Store.InSync);
        var state = volume.Replicas.Single(r => r.Name == dead);
        Assert.Equal(ReplicaRole.Offline, state.Role);
        Assert.Contains("Unavailable", state.LastError);
        Assert.Equal(1, state.Failures);

        var back = new byte[Block];
        for (int i = 0; i < 40; i++)
        {
            await volume.ReadAsync(i, back);
            Assert.Equal(Pattern(i, 1, i), back);
        }
    }

    [Fact]
    public async Task No_write_is_acknowledged_until_the_failed_replica_is_recorded_out_of_the_set()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        _rig.Store.Hold();
        _rig[1].Kill();

        var write = volume.WriteAsync(5, Pattern(5, 1, 1), WriteFlags.None).AsTask();
        await VolumeRig.WaitUntilAsync(() => _rig.Store.Calls > 0, "the removal sent to the store");
        var later = volume.WriteAsync(6, Pattern(6, 1, 1), WriteFlags.Fua).AsTask();
        var flush = volume.FlushAsync().AsTask();
        await Task.Delay(100); // what must not happen: an acknowledgement while the store still holds r1 in sync
        Assert.False(write.IsCompleted || later.IsCompleted || flush.IsCompleted, "a change was acknowledged while r1 was still recorded in sync");
        Assert.Equal(["r0", "r1"], _rig.Store.InSync);

        _rig.Store.Release();
        await Task.WhenAll(write, later, flush);
        Assert.Equal(["r0"], _rig.Store.InSync);
    }

    [Fact]
    public async Task When_the_store_cannot_record_the_removal_writes_fail_after_the_bounded_wait_and_name_why()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync(o => new ReplicatedVolumeOptions
        {
            VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = o.Replicas, InSync = o.InSync, Log = o.Log,
            ReconnectInterval = o.ReconnectInterval, MembershipWait = TimeSpan.FromMilliseconds(300),
        });
        _rig.Store.Unreachable = true;
        _rig[1].Kill();

        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await volume.WriteAsync(1, Pattern(1, 1, 1), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Contains("could not record a failed replica", e.Message);
        Assert.Contains("unreachable", e.Message);
        Assert.Equal(["r0", "r1"], _rig.Store.InSync);

        _rig.Store.Unreachable = false;
        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.Count == 1, "the removal recorded once the store answers");
        await volume.WriteAsync(1, Pattern(1, 1, 2), WriteFlags.None);
    }

    [Fact]
    public async Task A_returning_replica_copies_only_the_grains_written_while_it_was_away_then_rejoins()
    {
        _rig = new VolumeRig(2, blockCount: 4096);
        var volume = await _rig.OpenAsync();
        for (int lba = 0; lba < 4096; lba += 16)
        {
            await volume.WriteAsync(lba, Pattern(lba, 16, 0), WriteFlags.None);
        }

        await volume.FlushAsync();
        _rig[1].Kill();
        var rnd = new Random(7);
        var written = new HashSet<long>();
        for (int i = 0; i < 100; i++)
        {
            long lba = rnd.Next(4096);
            written.Add(lba);
            await volume.WriteAsync(lba, Pattern(lba, 1, 1), WriteFlags.None);
        }

        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.Count == 1, "r1 out of the set");
        long before = _rig[1].BytesWritten;
        _rig[1].Revive();
        await _rig.WaitAllInSyncAsync(volume);

        long copied = _rig[1].BytesWritten - before;
        Assert.True(copied <= written.Count * Block, $"copied {copied} bytes for {written.Count} blocks written while away");
        Assert.True(copied >= written.Count * Block, $"copied {copied} bytes, fewer than the {written.Count} blocks it missed");
        _rig.AssertReplicasIdentical();
        Assert.Equal(["r0", "r0,r1"], _rig.Store.History);
    }

    [Fact]
    public async Task Writes_a_replica_may_not_have_made_durable_are_copied_again_when_it_returns()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        for (int lba = 0; lba < 10; lba++)
        {
            await volume.WriteAsync(lba * 8, Pattern(lba * 8, 1, 0), WriteFlags.None);
        }

        await volume.FlushAsync();
        for (int lba = 0; lba < 5; lba++)
        {
            await volume.WriteAsync(500 + lba * 8, Pattern(500 + lba * 8, 1, 0), WriteFlags.None); // acknowledged, not flushed
        }

        _rig[1].Kill();
        await volume.WriteAsync(900, Pattern(900, 1, 0), WriteFlags.None);
        long before = _rig[1].BytesWritten;
        _rig[1].Revive();
        await _rig.WaitAllInSyncAsync(volume);

        // The 5 unflushed writes (its crash could have lost them) and the one it missed; not the 10 flushed ones.
        Assert.Equal(6 * Block, _rig[1].BytesWritten - before);
    }

    [Fact]
    public async Task A_replica_not_in_sync_at_open_gets_a_full_copy_of_the_mapped_blocks_only()
    {
        _rig = new VolumeRig(2, blockCount: 8192, inSync: ["r0"]);
        var seed = await _rig.OpenAsync(o => new ReplicatedVolumeOptions
        {
            VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = ["r0"], InSync = ["r0"], Log = o.Log,
        });
        for (int lba = 0; lba < 8192; lba += 512)
        {
            await seed.WriteAsync(lba, Pattern(lba, 32, 0), WriteFlags.None);
        }

        await seed.FlushAsync();
        await seed.DisposeAsync();
        long mapped = _rig[0].MappedBlocks();

        var volume = await _rig.OpenAsync();
        await _rig.WaitAllInSyncAsync(volume);
        Assert.Equal(mapped * Block, _rig[1].BytesWritten);
        _rig.AssertReplicasIdentical();
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)] // two replicas rebuilding at once
    public async Task Writes_during_a_rebuild_are_never_undone_by_the_copy(int replicas)
    {
        _rig = new VolumeRig(replicas, blockCount: 2048);
        var volume = await _rig.OpenAsync(o => new ReplicatedVolumeOptions
        {
            VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = o.Replicas, InSync = o.InSync, Log = o.Log, MinInSync = 1,
            ReconnectInterval = o.ReconnectInterval, RebuildChunkBytes = 16 * Block, RebuildDepth = 3,
        });
        foreach (var away in _rig.Disks.Skip(1))
        {
            away.Kill();
        }

        var versions = new int[2048];
        for (int lba = 0; lba < 2048; lba++)
        {
            await volume.WriteAsync(lba, Pattern(lba, 1, 0), WriteFlags.None);
        }

        _rig[0].ReadDelay = TimeSpan.FromMilliseconds(1); // copies are slow: writes race them
        foreach (var away in _rig.Disks.Skip(1))
        {
            away.Revive();
        }

        var rnd = new Random(11);
        while (volume.Replicas.Any(r => r.Role != ReplicaRole.InSync))
        {
            var batch = Enumerable.Range(0, 16).Select(_ => (long)rnd.Next(2048)).Distinct().Select(async lba =>
            {
                int v = Interlocked.Increment(ref versions[lba]);
                await volume.WriteAsync(lba, Pattern(lba, 1, v), WriteFlags.None);
            });
            await Task.WhenAll(batch);
        }

        _rig[0].ReadDelay = TimeSpan.Zero;
        await _rig.WaitAllInSyncAsync(volume);
        _rig.AssertReplicasIdentical();
        var back = new byte[Block];
        for (int lba = 0; lba < 2048; lba++)
        {
            await volume.ReadAsync(lba, back);
            Assert.Equal(Pattern(lba, 1, versions[lba]), back);
        }
    }

    [Fact]
    public async Task Below_the_minimum_in_sync_count_writes_wait_then_fail_and_resume_when_a_replica_returns()
    {
        _rig = new VolumeRig(3);
        var volume = await _rig.OpenAsync(o => new ReplicatedVolumeOptions
        {
            VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = o.Replicas, InSync = o.InSync, Log = o.Log,
            ReconnectInterval = o.ReconnectInterval, MinInSync = 2, MinInSyncWait = TimeSpan.FromMilliseconds(300),
        });
        _rig[1].Kill();
        _rig[2].Kill();
        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await volume.WriteAsync(3, Pattern(3, 1, 1), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Contains("fewer than the 2 required", e.Message);
        Assert.Contains("r1 Offline", e.Message);

        _rig[2].Revive();
        await VolumeRig.WaitUntilAsync(() => volume.Replicas.Count(r => r.Role == ReplicaRole.InSync) == 2, "r2 back in sync");
        await volume.WriteAsync(3, Pattern(3, 1, 2), WriteFlags.None);
        var back = new byte[Block];
        await volume.ReadAsync(3, back);
        Assert.Equal(Pattern(3, 1, 2), back);
    }

    [Fact]
    public async Task A_newer_target_fences_the_old_one_for_good()
    {
        _rig = new VolumeRig(2);
        var old = await _rig.OpenAsync();
        string? fencedWith = null;
        old.Fenced += reason => fencedWith = reason;
        await old.WriteAsync(0, Pattern(0, 1, 1), WriteFlags.None);

        var newer = await _rig.OpenAsync();
        await newer.WriteAsync(0, Pattern(0, 1, 2), WriteFlags.None);

        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await old.WriteAsync(0, Pattern(0, 1, 3), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Fenced, e.Kind);
        Assert.NotNull(fencedWith);
        await Assert.ThrowsAsync<BlockDeviceException>(async () => await old.ReadAsync(0, new byte[Block]));
        await Assert.ThrowsAsync<BlockDeviceException>(async () => await old.FlushAsync());

        var back = new byte[Block];
        await newer.ReadAsync(0, back);
        Assert.Equal(Pattern(0, 1, 2), back);
        _rig.AssertReplicasIdentical();
    }

    [Fact]
    public async Task A_target_whose_epoch_the_store_moved_past_is_fenced_when_it_tries_to_change_the_set()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        _rig.Store.Epoch++;
        _rig[1].Kill();
        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await volume.WriteAsync(0, Pattern(0, 1, 1), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Fenced, e.Kind);
        Assert.Equal(["r0", "r1"], _rig.Store.InSync);
    }

    [Fact]
    public async Task A_full_pool_on_one_replica_takes_it_out_and_the_volume_goes_on()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        _rig[1].FailWrites = BlockDeviceErrorKind.NoSpace;
        await volume.WriteAsync(7, Pattern(7, 1, 1), WriteFlags.None);
        var r1 = volume.Replicas.Single(r => r.Name == "r1");
        Assert.Contains("NoSpace", r1.LastError);
        Assert.Equal(["r0"], _rig.Store.InSync);
    }

    [Fact]
    public async Task A_write_that_fails_on_every_replica_is_an_error_and_the_set_is_kept()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        _rig[0].FailWrites = BlockDeviceErrorKind.NoSpace;
        _rig[1].FailWrites = BlockDeviceErrorKind.NoSpace;
        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await volume.WriteAsync(7, Pattern(7, 1, 1), WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.NoSpace, e.Kind);
        Assert.Contains("every in-sync replica", e.Message);
        Assert.Equal(["r0", "r1"], _rig.Store.InSync);
        Assert.Empty(_rig.Store.History);
    }

    [Fact]
    public async Task When_every_replica_fails_io_waits_and_resumes_on_the_first_that_returns()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        await volume.WriteAsync(1, Pattern(1, 1, 1), WriteFlags.None);
        _rig[0].Kill();
        _rig[1].Kill();
        await Assert.ThrowsAsync<BlockDeviceException>(async () => await volume.WriteAsync(2, Pattern(2, 1, 1), WriteFlags.None));
        Assert.Equal(["r0", "r1"], _rig.Store.InSync); // never an empty set

        var read = volume.ReadAsync(1, new byte[Block]).AsTask(); // waits for a replica rather than failing at once
        _rig[1].Revive();
        await read;
        await volume.WriteAsync(2, Pattern(2, 1, 2), WriteFlags.None);
        Assert.Equal(["r1"], _rig.Store.InSync);

        _rig[0].Revive();
        await _rig.WaitAllInSyncAsync(volume);
        _rig.AssertReplicasIdentical();
    }

    [Fact]
    public async Task A_rebuild_shows_its_progress_and_can_be_rate_limited()
    {
        _rig = new VolumeRig(2, blockCount: 4096, inSync: ["r0"]);
        var seed = await _rig.OpenAsync(o => new ReplicatedVolumeOptions { VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = ["r0"], InSync = ["r0"] });
        for (int lba = 0; lba < 4096; lba += 64)
        {
            await seed.WriteAsync(lba, Pattern(lba, 64, 0), WriteFlags.None);
        }

        await seed.DisposeAsync();
        var started = DateTime.UtcNow;
        var volume = await _rig.OpenAsync(o => new ReplicatedVolumeOptions
        {
            VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = o.Replicas, InSync = o.InSync, Log = o.Log,
            RebuildBytesPerSecond = 16 << 20, RebuildChunkBytes = 256 << 10,
        });
        RebuildProgress? seen = null;
        await VolumeRig.WaitUntilAsync(() => (seen = volume.Replicas.Single(r => r.Name == "r1").Rebuild) is { BytesDone: > 0 }, "rebuild progress");
        Assert.True(seen!.Full);
        Assert.Equal(16L << 20, seen.BytesTotal);
        Assert.InRange(seen.Percent, 0.1, 100);
        await _rig.WaitAllInSyncAsync(volume);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(900), "16 MiB at 16 MiB/s took less than a second");
        Assert.Null(volume.Replicas.Single(r => r.Name == "r1").Rebuild);
        _rig.AssertReplicasIdentical();
    }

    /// <summary>
    /// A rebuilding replica that fails halfway and comes back copies only what it still misses: what the rebuild
    /// copied and flushed there before the failure is not copied again.
    /// </summary>
    [Fact]
    public async Task A_rebuild_interrupted_by_the_replica_failing_resumes_where_it_stopped()
    {
        _rig = new VolumeRig(2, blockCount: 4096);
        var volume = await _rig.OpenAsync(o => new ReplicatedVolumeOptions
        {
            VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = o.Replicas, InSync = o.InSync, Log = o.Log,
            RebuildBytesPerSecond = 4 << 20, RebuildChunkBytes = 64 << 10, RebuildFlushBytes = 256 << 10,
        });
        _rig[1].Kill();
        for (int lba = 0; lba < 4096; lba += 64)
        {
            await volume.WriteAsync(lba, Pattern(lba, 64, 1), WriteFlags.None);
        }

        await volume.FlushAsync();

        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.Count == 1, "r1 out of the set");
        const long missed = 4096L * Block;
        long before = _rig[1].BytesWritten;
        _rig[1].Revive();
        await VolumeRig.WaitUntilAsync(() => _rig[1].BytesWritten - before >= missed / 3, "a third of the rebuild done");
        _rig[1].Kill();
        long firstAttempt = _rig[1].BytesWritten - before;
        await VolumeRig.WaitUntilAsync(() => volume.Replicas.Single(r => r.Name == "r1").Rebuild is null, "the rebuild to stop with the replica");

        _rig[1].Revive();
        await _rig.WaitAllInSyncAsync(volume);
        long secondAttempt = _rig[1].BytesWritten - before - firstAttempt;
        // At most what was copied after the last flush before the failure (256 KiB and the copies in flight) again.
        Assert.True(secondAttempt <= missed - firstAttempt + (512 << 10),
            $"the second attempt copied {secondAttempt} bytes; {firstAttempt} of {missed} were copied before the failure");
        _rig.AssertReplicasIdentical();
    }

    /// <summary>
    /// A rebuild interrupted by the target's restart resumes where the checkpoint its target recorded says, not from
    /// the start: the next target copies the rest (and the few regions left unsettled), and the checkpoint goes once
    /// the replica is back in the set.
    /// </summary>
    [Fact]
    public async Task A_rebuild_interrupted_by_a_target_restart_resumes_from_the_checkpoint_it_recorded()
    {
        _rig = new VolumeRig(2, blockCount: 4096);
        var first = await _rig.OpenAsync(o => Tuned(o, rebuildBytesPerSecond: 4 << 20));
        _rig[1].Kill();
        for (int lba = 0; lba < 4096; lba += 64)
        {
            await first.WriteAsync(lba, Pattern(lba, 64, 1), WriteFlags.None);
        }

        await first.FlushAsync();
        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.Count == 1, "r1 out of the set");
        const long missed = 4096L * Block;
        long before = _rig[1].BytesWritten;
        _rig[1].Revive();
        await VolumeRig.WaitUntilAsync(() => _rig.Store.Checkpoints.GetValueOrDefault("r1") >= missed / 3, "a third of the rebuild recorded");
        await first.DisposeAsync(); // the target goes; the replicas stay as they are
        long firstAttempt = _rig[1].BytesWritten - before;
        long checkpoint = _rig.Store.Checkpoints["r1"];
        Assert.True(checkpoint <= firstAttempt, $"checkpoint {checkpoint} past the {firstAttempt} bytes copied");

        var second = await _rig.OpenAsync(o => Tuned(o, rebuildBytesPerSecond: 0));
        await _rig.WaitAllInSyncAsync(second);
        long secondAttempt = _rig[1].BytesWritten - before - firstAttempt;
        Assert.True(secondAttempt <= missed - checkpoint + (512 << 10),
            $"the second target copied {secondAttempt} bytes; its checkpoint said {checkpoint} of {missed} were done");
        Assert.False(second.Replicas.Single(r => r.Name == "r1").LastRebuild!.Full);
        Assert.Empty(_rig.Store.Checkpoints);
        _rig.AssertReplicasIdentical();
        var back = new byte[64 * Block];
        await second.ReadAsync(4032, back);
        Assert.Equal(Pattern(4032, 64, 1), back);
    }

    /// <summary>
    /// A rebuilding replica with a recorded checkpoint that fails misses every write from then on: a later target
    /// must not trust the checkpoint, so no write is acknowledged until the store has cleared it.
    /// </summary>
    [Fact]
    public async Task A_failed_rebuilding_replica_has_its_checkpoint_cleared_before_a_later_write_is_acknowledged()
    {
        _rig = new VolumeRig(2, blockCount: 4096);
        var volume = await _rig.OpenAsync(o => Tuned(o, rebuildBytesPerSecond: 4 << 20));
        _rig[1].Kill();
        for (int lba = 0; lba < 4096; lba += 64)
        {
            await volume.WriteAsync(lba, Pattern(lba, 64, 1), WriteFlags.None);
        }

        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.Count == 1, "r1 out of the set");
        _rig[1].Revive();
        await VolumeRig.WaitUntilAsync(() => _rig.Store.Checkpoints.ContainsKey("r1"), "a checkpoint recorded");

        _rig.Store.HoldCheckpoints = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = Volatile.Read(ref _rig.Store.CheckpointCalls);
        _rig[1].Kill();
        var write = volume.WriteAsync(7, Pattern(7, 1, 2), WriteFlags.None).AsTask();
        await VolumeRig.WaitUntilAsync(() => _rig.Store.CheckpointHistory.Count > 0 && Volatile.Read(ref _rig.Store.CheckpointCalls) > calls
            && volume.Replicas.Single(r => r.Name == "r1").Role == ReplicaRole.Offline, "the clear asked of the store");
        Assert.False(write.IsCompleted, "a write r1 missed was acknowledged while the store may still hold its checkpoint");

        _rig.Store.HoldCheckpoints.SetResult();
        await write;
        Assert.False(_rig.Store.Checkpoints.ContainsKey("r1"));
        Assert.Equal("r1=cleared", _rig.Store.CheckpointHistory[^1]);
    }

    private static ReplicatedVolumeOptions Tuned(ReplicatedVolumeOptions o, long rebuildBytesPerSecond) => new()
    {
        VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = o.Replicas, InSync = o.InSync, RebuildCheckpoints = o.RebuildCheckpoints,
        Log = o.Log, ReconnectInterval = o.ReconnectInterval, BackgroundFlushInterval = o.BackgroundFlushInterval, OpenWait = o.OpenWait,
        RebuildBytesPerSecond = rebuildBytesPerSecond, RebuildChunkBytes = 64 << 10, RebuildFlushBytes = 256 << 10,
    };
}

