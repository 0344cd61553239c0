using System.Net;
using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>A replicated volume whose replicas are sparse files behind real replica servers, reached over loopback TCP.</summary>
public sealed class ReplicatedVolumeOverTcpTests
{
    private const int Block = 4096;

    private sealed class HostConnector(Dictionary<string, ReplicaHost> hosts, long epoch) : IReplicaConnector
    {
        public async Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct) =>
            await ReplicaClient.ConnectAsync(hosts[replica].EndPoint, "pvc-tcp", epoch, ct);
    }

    [Fact]
    public async Task A_replica_server_restarted_during_writes_catches_up_and_the_files_end_identical()
    {
        await using var a = ReplicaHost.Start();
        await using var b = ReplicaHost.Start();
        var fileA = a.AddVolume("pvc-tcp", Block, 2048);
        var fileB = b.AddVolume("pvc-tcp", Block, 2048);
        var hosts = new Dictionary<string, ReplicaHost> { ["a"] = a, ["b"] = b };
        var store = new MemoryMembership(1, "a", "b");
        var log = new List<string>();
        await using var volume = await ReplicatedVolume.OpenAsync(new ReplicatedVolumeOptions
        {
            VolumeId = "pvc-tcp", Epoch = 1, Replicas = ["a", "b"], InSync = ["a", "b"],
            ReconnectInterval = TimeSpan.FromMilliseconds(20),
            Log = m => { lock (log) { log.Add(m); } },
        }, new HostConnector(hosts, 1), store);

        var writes = new RandomWrites(volume, 2048, seed: 3);
        await writes.WriteAsync(200);
        await b.RestartAsync(); // every connection dropped; the server comes back on a new port over the same files
        await writes.WriteAsync(200);
        Assert.Equal("a", store.History.First()); // b was recorded out before any later write was acknowledged

        await VolumeRig.WaitUntilAsync(() => volume.Replicas.All(r => r.Role == ReplicaRole.InSync) && store.InSync.Count == 2,
            "b back in sync: " + string.Join("; ", volume.Replicas.Select(r => $"{r.Name} {r.Role} {r.Reason}")));
        await writes.WriteAsync(50);
        await volume.FlushAsync();

        var backA = new byte[writes.Expected.Length];
        var backB = new byte[writes.Expected.Length];
        await fileA.ReadAsync(0, backA);
        await fileB.ReadAsync(0, backB);
        Assert.True(writes.Expected.AsSpan().SequenceEqual(backA), "replica a differs from what was written");
        Assert.True(writes.Expected.AsSpan().SequenceEqual(backB), "replica b differs from what was written");
    }
}
