using System.Net;
using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>A replicated volume whose replicas are sparse files behind real replica servers, reached over loopback TCP.</summary>
public sealed class ReplicatedVolumeOverTcpTests
{
    private const int Block = 4096;

    private sealed class HostConnector(Dictionary<string, ReplicaHost> hosts, long epoch, IPEndPoint? frozen = null) : IReplicaConnector
    {
        public async Task<IBlockDevice> ConnectAsync(string replica, CancellationToken ct) =>
            await ReplicaClient.ConnectAsync(hosts.TryGetValue(replica, out var host) ? host.EndPoint : frozen!, "pvc-tcp", epoch, ct);
    }

    /// <summary>
    /// A frozen node (SIGSTOP, a stalled host) accepts connections in its kernel and answers nothing. Once the other
    /// replica has opened, the open gives it the grace, not the whole OpenWait (here five minutes), and serves without it.
    /// </summary>
    [Fact]
    public async Task A_replica_that_accepts_and_never_answers_holds_the_open_up_only_for_the_grace()
    {
        await using var a = ReplicaHost.Start();
        a.AddVolume("pvc-tcp", Block, 256);
        using var frozen = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        frozen.Start(); // never accepted, never read: the kernel completes the TCP handshake and holds the Hello
        var store = new MemoryMembership(1, "a", "frozen");
        await using var volume = await ReplicatedVolume.OpenAsync(new ReplicatedVolumeOptions
        {
            VolumeId = "pvc-tcp", Epoch = 1, Replicas = ["a", "frozen"], InSync = ["a", "frozen"],
            ReconnectInterval = TimeSpan.FromMilliseconds(20), OpenWait = TimeSpan.FromMinutes(5),
        }, new HostConnector(new() { ["a"] = a }, 1, (IPEndPoint)frozen.LocalEndpoint), store).WaitAsync(TimeSpan.FromMinutes(1));

        var state = volume.Replicas.Single(r => r.Name == "frozen");
        Assert.Equal(ReplicaRole.Offline, state.Role);
        Assert.Contains("of another replica opening", state.Reason, StringComparison.Ordinal);
        await volume.WriteAsync(0, new byte[Block], WriteFlags.None);
        Assert.Equal(["a"], store.InSync);
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
