using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

// Adding and removing replicas while the volume serves (the control plane replaced one whose node stayed away):
// writes go on without an error, the new replica gets a full copy and joins, the removed one gets nothing more.
public sealed partial class ReplicatedVolumeTests
{
    /// <summary>Opens the rig's volume with only <paramref name="replicas"/> of its disks (the others are spares to add).</summary>
    private Task<ReplicatedVolume> OpenWithAsync(params string[] replicas) => _rig.OpenAsync(o => new ReplicatedVolumeOptions
    {
        VolumeId = o.VolumeId, Epoch = o.Epoch, Replicas = replicas, InSync = replicas, Log = o.Log, MinInSync = 1,
        ReconnectInterval = o.ReconnectInterval, RebuildChunkBytes = 16 * Block, RebuildDepth = 2,
    });

    /// <summary>Random single-block writes until <paramref name="stop"/>; each block's last version is kept.</summary>
    private static async Task<long> WriteUntilAsync(ReplicatedVolume volume, int[] versions, CancellationToken stop)
    {
        var rnd = new Random(7);
        long writes = 0;
        while (!stop.IsCancellationRequested)
        {
            var batch = Enumerable.Range(0, 8).Select(_ => (long)rnd.Next(versions.Length)).Distinct().Select(async lba =>
            {
                int v = Interlocked.Increment(ref versions[lba]);
                await volume.WriteAsync(lba, Pattern(lba, 1, v), WriteFlags.None);
            });
            await Task.WhenAll(batch);
            writes += 8;
        }

        return writes;
    }

    private static async Task AssertReadsBackAsync(ReplicatedVolume volume, int[] versions)
    {
        var back = new byte[Block];
        for (int lba = 0; lba < versions.Length; lba++)
        {
            if (versions[lba] > 0)
            {
                await volume.ReadAsync(lba, back);
                Assert.Equal(Pattern(lba, 1, versions[lba]), back);
            }
        }
    }

    [Fact]
    public async Task An_added_replica_gets_a_full_copy_of_the_mapped_blocks_while_writes_go_on_and_joins_the_set()
    {
        _rig = new VolumeRig(3, blockCount: 2048, inSync: ["r0", "r1"]);
        var volume = await OpenWithAsync("r0", "r1");
        var versions = new int[2048];
        for (int lba = 0; lba < 1024; lba++)
        {
            versions[lba] = 1;
            await volume.WriteAsync(lba, Pattern(lba, 1, 1), WriteFlags.None);
        }

        _rig[0].ReadDelay = _rig[1].ReadDelay = TimeSpan.FromMilliseconds(1); // copies are slow: writes race them
        using var stop = new CancellationTokenSource();
        var writing = WriteUntilAsync(volume, versions, stop.Token);
        volume.AddReplica("r2");
        volume.AddReplica("r2"); // twice is once
        await VolumeRig.WaitUntilAsync(() => volume.Replicas.Any(r => r.Name == "r2" && r.Rebuild is { Full: true }), "r2 rebuilding with a full copy");
        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.Contains("r2"), "r2 recorded in sync", 60);
        await stop.CancelAsync();
        await writing;
        _rig[0].ReadDelay = _rig[1].ReadDelay = TimeSpan.Zero;
        await volume.FlushAsync();

        var r2 = volume.Replicas.Single(r => r.Name == "r2");
        Assert.Equal(ReplicaRole.InSync, r2.Role);
        Assert.True(r2.LastRebuild!.Full);
        Assert.Equal(3, volume.Replicas.Count);
        _rig.AssertReplicasIdentical();
        Assert.True(_rig[2].MappedBlocks() <= _rig[0].MappedBlocks(), "the copy mapped blocks the source does not have");
        await AssertReadsBackAsync(volume, versions);
    }

    [Fact]
    public async Task A_removed_replica_gets_no_more_io_and_its_removal_is_recorded_before_any_later_write_is_acknowledged()
    {
        _rig = new VolumeRig(3);
        var volume = await _rig.OpenAsync();
        var versions = new int[1000]; // blocks 1000-1023 are the probe's
        using var stop = new CancellationTokenSource();
        var writing = WriteUntilAsync(volume, versions, stop.Token);
        await VolumeRig.WaitUntilAsync(() => _rig[1].BytesWritten > 64 * Block, "writes going on");

        _rig.Store.Hold();
        Assert.True(volume.RemoveReplica("r1"));
        Assert.True(volume.RemoveReplica("r1")); // twice is once
        var probe = volume.WriteAsync(1010, Pattern(1010, 1, 1), WriteFlags.None).AsTask();
        await VolumeRig.WaitUntilAsync(() => _rig.Store.Calls > 0, "the removal sent to the store");
        await Task.Delay(100); // what must not happen: a write acknowledged while the store still holds r1 in sync
        Assert.False(probe.IsCompleted, "a write was acknowledged while r1 was still recorded in sync");
        Assert.Contains("r1", _rig.Store.InSync);
        _rig.Store.Release();
        await probe;
        Assert.DoesNotContain("r1", _rig.Store.InSync);

        long r1Bytes = Interlocked.Read(ref _rig[1].BytesWritten);
        long before = versions.Sum();
        await VolumeRig.WaitUntilAsync(() => versions.Sum() > before + 200, "more writes");
        await stop.CancelAsync();
        await writing;
        await volume.FlushAsync();

        Assert.Equal(r1Bytes, Interlocked.Read(ref _rig[1].BytesWritten));
        Assert.Equal(["r0", "r2"], volume.Replicas.Select(r => r.Name));
        Assert.Equal(["r0", "r2"], _rig.Store.InSync.Order());
        await AssertReadsBackAsync(volume, versions);
    }

    [Fact]
    public async Task Removing_a_replica_mid_rebuild_stops_its_rebuild_and_writes_go_on()
    {
        _rig = new VolumeRig(3, blockCount: 2048, inSync: ["r0", "r1"]);
        var volume = await OpenWithAsync("r0", "r1");
        var versions = new int[2048];
        for (int lba = 0; lba < 2048; lba += 2)
        {
            versions[lba] = 1;
            await volume.WriteAsync(lba, Pattern(lba, 1, 1), WriteFlags.None);
        }

        _rig[0].ReadDelay = _rig[1].ReadDelay = TimeSpan.FromMilliseconds(2);
        volume.AddReplica("r2");
        await VolumeRig.WaitUntilAsync(() => volume.Replicas.Any(r => r.Name == "r2" && r.Rebuild is { BytesDone: > 0 }), "r2's full copy under way");
        using var stop = new CancellationTokenSource();
        var writing = WriteUntilAsync(volume, versions, stop.Token);
        Assert.True(volume.RemoveReplica("r2"));
        long r2Bytes = Interlocked.Read(ref _rig[2].BytesWritten);
        await VolumeRig.WaitUntilAsync(() => versions.Sum() > 1024 + 400, "writes after the removal");
        await stop.CancelAsync();
        await writing;
        _rig[0].ReadDelay = _rig[1].ReadDelay = TimeSpan.Zero;

        // At most the copies and writes already in flight when it was removed reached it.
        Assert.InRange(Interlocked.Read(ref _rig[2].BytesWritten) - r2Bytes, 0, 2 * 16 * Block + 8 * Block);
        Assert.Equal(["r0", "r1"], volume.Replicas.Select(r => r.Name));
        Assert.DoesNotContain("r2", _rig.Store.InSync);
        Assert.Contains(_rig.Log, l => l.Contains("replica r2 removed", StringComparison.Ordinal));
        await AssertReadsBackAsync(volume, versions);
    }

    [Fact]
    public async Task The_only_in_sync_replica_is_not_removed()
    {
        _rig = new VolumeRig(2);
        var volume = await _rig.OpenAsync();
        _rig[1].Kill();
        await volume.WriteAsync(0, Pattern(0, 1, 1), WriteFlags.None);
        Assert.Equal(["r0"], _rig.Store.InSync);

        Assert.False(volume.RemoveReplica("r0"));
        Assert.Equal(2, volume.Replicas.Count);
        Assert.True(volume.RemoveReplica("r1"));
        Assert.True(volume.RemoveReplica("r-unknown"));
        await volume.WriteAsync(1, Pattern(1, 1, 1), WriteFlags.None);
        Assert.Equal(["r0"], volume.Replicas.Select(r => r.Name));
    }

    [Fact]
    public async Task A_dead_replica_replaced_by_a_new_one_leaves_the_volume_with_every_replica_in_sync()
    {
        // What the control plane's replacement does to the target: r1's node is gone, r2 takes its place.
        _rig = new VolumeRig(3, blockCount: 1024, inSync: ["r0", "r1"]);
        var volume = await OpenWithAsync("r0", "r1");
        var versions = new int[1024];
        using var stop = new CancellationTokenSource();
        var writing = WriteUntilAsync(volume, versions, stop.Token);
        await VolumeRig.WaitUntilAsync(() => versions.Sum() > 200, "writes going on");
        _rig[1].Kill();
        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.SequenceEqual(["r0"]), "r1 recorded out of the set");

        volume.AddReplica("r2");
        Assert.True(volume.RemoveReplica("r1"));
        await VolumeRig.WaitUntilAsync(() => _rig.Store.InSync.Order().SequenceEqual(["r0", "r2"]), "r2 in sync", 60);
        await stop.CancelAsync();
        await writing;
        await volume.FlushAsync();

        Assert.All(volume.Replicas, r => Assert.Equal(ReplicaRole.InSync, r.Role));
        Assert.Equal(_rig[0].Snapshot(), _rig[2].Snapshot());
        await AssertReadsBackAsync(volume, versions);
    }
}
