using System.Net;
using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>
/// A new target and the write-intent logs its predecessor left: in-sync replicas made identical where they may
/// differ, and an in-sync replica out of reach at open caught up incrementally.
/// </summary>
public sealed class WriteIntentVolumeTests
{
    private const int Block = 4096;
    private const int RegionBlocks = 16; // ReplicaDisk's regions

    [Fact]
    public async Task A_flush_of_every_replica_settles_their_write_intent_regions()
    {
        await using var rig = new VolumeRig(2);
        var volume = await rig.OpenAsync();
        await new RandomWrites(volume, 1024, seed: 5).WriteAsync(50);
        Assert.All(rig.Disks, d => Assert.True(d.Intent.ToIntent().Set.Count() > 0));

        await volume.FlushAsync();
        Assert.All(rig.Disks, d => Assert.Equal(0, d.Intent.ToIntent().Set.Count()));
    }

    [Fact]
    public async Task Two_in_sync_replicas_left_different_by_an_interrupted_write_are_identical_after_a_new_target_opens()
    {
        await using var rig = new VolumeRig(2);
        var expected = await WrittenBySettledTargetAsync(rig, seed: 1);

        // The previous target died with a write in flight that reached r1 only: never acknowledged, so either
        // version may be read, but the replicas differ there.
        rig[1].ApplyInterrupted(100, Enumerable.Repeat((byte)0xAB, 8 * Block).ToArray());
        Assert.False(rig[0].Snapshot().AsSpan().SequenceEqual(rig[1].Snapshot()));
        long written = Interlocked.Read(ref rig[1].BytesWritten);

        var second = await rig.OpenAsync();
        rig.AssertReplicasIdentical();
        Assert.True(rig[0].Snapshot().AsSpan().SequenceEqual(expected), "r0 (the source) changed");
        Assert.All(second.Replicas, r => Assert.Equal(ReplicaRole.InSync, r.Role));

        // Only the unsettled region was copied, not the volume.
        Assert.InRange(Interlocked.Read(ref rig[1].BytesWritten) - written, 1, RegionBlocks * Block);
        Assert.Contains(rig.Log, l => l.Contains("made identical over 16 grains", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_in_sync_replica_out_of_reach_at_open_catches_up_incrementally_with_its_own_regions_and_the_others()
    {
        await using var rig = new VolumeRig(2);
        var first = await rig.OpenAsync();
        var fill = Enumerable.Range(0, 64 * Block).Select(i => (byte)(i * 7)).ToArray();
        for (long lba = 0; lba < 1024; lba += 64)
        {
            await first.WriteAsync(lba, fill, WriteFlags.None);
        }

        await first.FlushAsync();
        await first.DisposeAsync();

        // Left unsettled by the previous target: a change that reached r0 only (region 12), and one that reached r1
        // only (region 40), which then goes away.
        rig[0].ApplyInterrupted(200, Enumerable.Repeat((byte)0xCD, 4 * Block).ToArray());
        rig[1].ApplyInterrupted(640, Enumerable.Repeat((byte)0xEF, 4 * Block).ToArray());
        rig[1].Kill();

        var second = await rig.OpenAsync();
        Assert.Equal(ReplicaRole.Offline, second.Replicas.Single(r => r.Name == "r1").Role);
        await second.WriteAsync(600, new byte[2 * Block], WriteFlags.None); // missed by r1 while away

        rig[1].Revive();
        await rig.WaitAllInSyncAsync(second);
        rig.AssertReplicasIdentical();

        // U (region 12), its own region 40 and the 2 blocks written while it was away: 34 grains of 4 KiB, not 4 MiB.
        var rebuild = second.Replicas.Single(r => r.Name == "r1").LastRebuild!;
        Assert.False(rebuild.Full);
        Assert.Equal(34, rebuild.GrainsGoneOver);
        Assert.Equal(34L * Block, rebuild.BytesCopied);
    }

    [Fact]
    public async Task Over_tcp_a_new_target_makes_the_replica_servers_files_identical_where_a_write_was_interrupted()
    {
        await using var a = ReplicaHost.Start();
        await using var b = ReplicaHost.Start();
        const long blocks = 2048; // 8 MiB: 8 regions of 1 MiB
        var fileA = a.AddVolume("pvc-wi", Block, blocks);
        var fileB = b.AddVolume("pvc-wi", Block, blocks);
        var hosts = new Dictionary<string, ReplicaHost> { ["a"] = a, ["b"] = b };
        var store = new MemoryMembership(1, "a", "b");
        var log = new List<string>();
        ReplicatedVolumeOptions Options(long epoch) => new()
        {
            VolumeId = "pvc-wi", Epoch = epoch, Replicas = ["a", "b"], InSync = ["a", "b"], PreferredReplica = "b",
            ReconnectInterval = TimeSpan.FromMilliseconds(20), BackgroundFlushInterval = TimeSpan.FromHours(1),
            Log = m => { lock (log) { log.Add(m); } },
        };

        byte[] expected;
        await using (var first = await ReplicatedVolume.OpenAsync(Options(1), new HostConnector(hosts, 1), store))
        {
            var writes = new RandomWrites(first, (int)blocks, seed: 9);
            await writes.WriteAsync(300);
            await first.FlushAsync();
            expected = writes.Expected;
        }

        // Settled on both servers by the flush.
        foreach (var host in new[] { a, b })
        {
            await using var look = await ReplicaClient.ConnectAsync(host.EndPoint, "pvc-wi", 1);
            Assert.Equal(0, (await look.GetIntentAsync()).Set.Count());
        }

        // The target at epoch 1 dies with a write in flight that reached b only (region 2), and b's server restarts
        // (its bitmap found set: it may have lost its cache). b is the preferred (local) replica, but a is the source.
        await using (var late = await ReplicaClient.ConnectAsync(b.EndPoint, "pvc-wi", 1))
        {
            await late.WriteAsync(2 * 256 + 10, Enumerable.Repeat((byte)0x77, 3 * Block).ToArray(), WriteFlags.Fua);
        }

        await b.RestartAsync();

        store.Epoch = 2;
        await using var second = await ReplicatedVolume.OpenAsync(Options(2), new HostConnector(hosts, 2), store);
        var backA = new byte[blocks * Block];
        var backB = new byte[blocks * Block];
        await fileA.ReadAsync(0, backA);
        await fileB.ReadAsync(0, backB);
        Assert.True(backA.AsSpan().SequenceEqual(expected), "a, the source, differs from what was acknowledged");
        Assert.True(backB.AsSpan().SequenceEqual(backA), "b still differs from a");
        Assert.Contains(log, l => l.Contains("made identical over 256 grains", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_in_sync_replica_back_within_the_open_grace_is_made_identical_before_it_counts()
    {
        await using var rig = new VolumeRig(2);
        var expected = await WrittenBySettledTargetAsync(rig, seed: 2);

        // r1's node crashed with a change of the dying target only it got; it is back a moment after r0 opened.
        rig[1].ApplyInterrupted(300, Enumerable.Repeat((byte)0x5A, 2 * Block).ToArray());
        rig[1].Kill();
        long epoch = ++rig.Store.Epoch;
        var connector = new ReviveAfterFirst(new DiskConnector(epoch, rig.Disks), rig[1]);
        await using var second = await ReplicatedVolume.OpenAsync(rig.Options(epoch), connector, rig.Store);

        Assert.All(second.Replicas, r => Assert.Equal(ReplicaRole.InSync, r.Role));
        rig.AssertReplicasIdentical();
        Assert.True(rig[1].Snapshot().AsSpan().SequenceEqual(expected), "r1 kept the change only it had");
    }

    /// <summary>A target that wrote 100 random writes, flushed (settling every region) and stopped; what it wrote.</summary>
    private static async Task<byte[]> WrittenBySettledTargetAsync(VolumeRig rig, int seed)
    {
        var first = await rig.OpenAsync();
        var writes = new RandomWrites(first, 1024, seed);
        await writes.WriteAsync(100);
        await first.FlushAsync();
        await first.DisposeAsync();
        return writes.Expected;
    }

    /// <summary>Opens replicas as the inner connector does, and revives <paramref name="later"/> once another has opened.</summary>
    private sealed class ReviveAfterFirst(IReplicaConnector inner, ReplicaDisk later) : IReplicaConnector
    {
        public async Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct)
        {
            var device = await inner.ConnectAsync(replica, ct);
            if (replica != later.Name)
            {
                later.Revive();
            }

            return device;
        }
    }

    private sealed class HostConnector(Dictionary<string, ReplicaHost> hosts, long epoch) : IReplicaConnector
    {
        public async Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct) =>
            await ReplicaClient.ConnectAsync(hosts[replica].EndPoint, "pvc-wi", epoch, ct);
    }
}
