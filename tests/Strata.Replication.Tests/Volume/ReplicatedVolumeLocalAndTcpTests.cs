using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>
/// A replicated volume as a node serves it: replica "a" on the target's own node, opened in process
/// (<see cref="LocalReplica"/>), and replica "b" on another node's replica server over loopback TCP. Each is a sparse
/// file behind a real <see cref="ReplicaServer"/>.
/// </summary>
public sealed class LocalAndTcpRig : IAsyncDisposable
{
    public const string VolumeId = "pvc-mixed";

    public LocalAndTcpRig(int blockSize = 4096, long blockCount = 2048)
    {
        FileA = A.AddVolume(VolumeId, blockSize, blockCount);
        FileB = B.AddVolume(VolumeId, blockSize, blockCount);
    }

    /// <summary>The target's own node: its replica is opened in process.</summary>
    public ReplicaHost A { get; } = ReplicaHost.Start();

    public ReplicaHost B { get; } = ReplicaHost.Start();

    public FileBlockDevice FileA { get; }

    public FileBlockDevice FileB { get; }

    public MemoryMembership Store { get; } = new(0, "a", "b");

    /// <summary>Opens the volume as a new target instance on A's node, at the store's next epoch.</summary>
    public async Task<ReplicatedVolume> OpenAsync()
    {
        long epoch = ++Store.Epoch;
        return await ReplicatedVolume.OpenAsync(new ReplicatedVolumeOptions
        {
            VolumeId = VolumeId, Epoch = epoch, Replicas = ["a", "b"], InSync = [.. Store.InSync], PreferredReplica = "a",
            ReconnectInterval = TimeSpan.FromMilliseconds(20), BackgroundFlushInterval = TimeSpan.FromHours(1),
        }, new Connector(this, epoch), Store);
    }

    public async ValueTask DisposeAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }

    private sealed class Connector(LocalAndTcpRig rig, long epoch) : IReplicaConnector
    {
        public async Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct) => replica == "a"
            ? await rig.A.Server.OpenLocalAsync(VolumeId, epoch, ct)
            : await ReplicaClient.ConnectAsync(rig.B.EndPoint, VolumeId, epoch, ct);
    }
}

/// <summary>The contract through a volume of one replica in process and one over TCP.</summary>
public sealed class ReplicatedVolumeLocalAndTcpContractTests : ReplicatedVolumeContract, IAsyncLifetime
{
    private readonly List<LocalAndTcpRig> _rigs = [];

    protected override Func<Task<ReplicatedVolume>> NewReplicas(int blockSize, long blockCount)
    {
        var rig = new LocalAndTcpRig(blockSize, blockCount);
        _rigs.Add(rig);
        return rig.OpenAsync;
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var rig in _rigs)
        {
            await rig.DisposeAsync();
        }
    }
}

public sealed class ReplicatedVolumeLocalAndTcpTests
{
    private const int Block = 4096;

    [Fact]
    public async Task The_TCP_replica_restarted_during_writes_catches_up_and_both_files_end_identical()
    {
        await using var rig = new LocalAndTcpRig();
        await using var volume = await rig.OpenAsync();
        var writes = new RandomWrites(volume, 2048, seed: 5);
        await writes.WriteAsync(200);
        await rig.B.RestartAsync();
        await writes.WriteAsync(200);
        Assert.Equal("a", rig.Store.History.First());
        await VolumeRig.WaitUntilAsync(() => volume.Replicas.All(r => r.Role == ReplicaRole.InSync) && rig.Store.InSync.Count == 2,
            "b back in sync: " + string.Join("; ", volume.Replicas.Select(r => $"{r.Name} {r.Role} {r.Reason}")));
        await writes.WriteAsync(50);
        await volume.FlushAsync();

        var back = new byte[writes.Expected.Length];
        await volume.ReadAsync(0, back);
        Assert.True(writes.Expected.AsSpan().SequenceEqual(back), "the volume reads back other than what was written");
        await rig.FileA.ReadAsync(0, back);
        Assert.True(writes.Expected.AsSpan().SequenceEqual(back), "the local replica differs from what was written");
        await rig.FileB.ReadAsync(0, back);
        Assert.True(writes.Expected.AsSpan().SequenceEqual(back), "the TCP replica differs from what was written");
    }

    [Fact]
    public async Task A_newer_target_on_another_node_fences_the_one_using_its_local_replica()
    {
        await using var rig = new LocalAndTcpRig();
        await using var old = await rig.OpenAsync();
        await old.WriteAsync(0, new byte[Block], WriteFlags.None);

        // The target moves to B's node: a new epoch, both replicas over TCP.
        long epoch = ++rig.Store.Epoch;
        await using var a = await ReplicaClient.ConnectAsync(rig.A.EndPoint, LocalAndTcpRig.VolumeId, epoch);
        await using var b = await ReplicaClient.ConnectAsync(rig.B.EndPoint, LocalAndTcpRig.VolumeId, epoch);

        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await old.WriteAsync(1, new byte[Block], WriteFlags.None));
        Assert.Equal(BlockDeviceErrorKind.Fenced, e.Kind);
        Assert.NotNull(old.FencedReason);
        Assert.Equal(BlockDeviceErrorKind.Fenced, (await Assert.ThrowsAsync<BlockDeviceException>(async () => await old.ReadAsync(0, new byte[Block]))).Kind);
        await a.WriteAsync(1, new byte[Block], WriteFlags.Fua);
    }
}
