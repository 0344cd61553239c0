using System.Collections.Concurrent;
using System.Net;
using Strata.Control;
using Strata.Control.Resources;
using Strata.Node.Hosting;
using Strata.State.Sqlite;
using Xunit;

namespace Strata.Node.Tests.Hosting;

/// <summary>
/// A node deletes a replica's data only when told to (its record marked deleting), never because the assignments
/// leave it out: a partial or stale list (a store restored from an older backup, a bug) must not cost live data.
/// A real node agent with a sparse pool, against an in-process control plane over an in-memory store.
/// </summary>
public sealed class NodeAgentDeletionTests : IAsyncLifetime
{
    private const long VolumeBytes = 64L << 20;
    private const long SparseBytes = 256L << 20;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    private readonly string _dir = Directory.CreateTempSubdirectory("strata-nodeagent-").FullName;
    private readonly ConcurrentQueue<string> _log = new();
    private SqliteStore _store = null!;
    private ControlPlaneHost _control = null!;

    private static StoragePool Pool => new()
    {
        Metadata = { Name = "pool-a" },
        Spec = { Claim = "cstor-pool", Node = "node-1", Type = "sparse", PoolType = "striped" },
    };

    public async Task InitializeAsync()
    {
        _store = await SqliteStore.OpenAsync(":memory:");
        _control = await ControlPlaneHost.StartAsync(_store, new ControlPlaneOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), ReplaceReplicaAfter = TimeSpan.Zero });
        Assert.True(await _control.Services.Resources.CreateAsync(Pool));
        await AddReplicaAsync("pvc-a");
        await AddReplicaAsync("pvc-b");
    }

    public async Task DisposeAsync()
    {
        await _control.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private NodeAgent StartAgent()
    {
        var agent = new NodeAgent(new NodeAgentOptions
        {
            Name = "node-1",
            Control = _control.Url,
            DataDirectory = _dir,
            IscsiPortal = new IPEndPoint(IPAddress.Loopback, 0),
            ReplicaListen = new IPEndPoint(IPAddress.Loopback, 0),
            SparseFileBytes = SparseBytes,
            DiscoverDisks = false,
            ReportInterval = TimeSpan.FromSeconds(1),
            Log = _log.Enqueue,
        });
        agent.Start();
        return agent;
    }

    private async Task AddReplicaAsync(string volume) =>
        Assert.True(await _control.Services.Resources.CreateAsync(new VolumeReplica
        {
            Metadata = { Name = $"{volume}-pool-a" },
            Spec = { Volume = volume, Pool = "pool-a", Node = "node-1", SizeBytes = VolumeBytes },
            Status = { Phase = "Pending" },
        }));

    private Task<VolumeReplica?> ReplicaAsync(string name) => _control.Services.Resources.GetAsync<VolumeReplica>(ResourceKind.VolumeReplica, null, name);

    private async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + s_timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}; node log:\n{string.Join("\n", _log)}");
            await Task.Delay(100);
        }
    }

    private Task WaitHealthyAsync(params string[] replicas) =>
        WaitAsync(async () =>
        {
            foreach (string name in replicas)
            {
                if ((await ReplicaAsync(name))?.Status.Phase != "Healthy")
                {
                    return false;
                }
            }

            return true;
        }, $"{string.Join(", ", replicas)} made and reported Healthy");

    /// <summary>The volumes in the node's pool, read from its files once the agent has stopped.</summary>
    private async Task<List<string>> VolumesInPoolAsync()
    {
        await using var host = new PoolHost(_dir, SparseBytes, _log.Enqueue);
        await host.EnsureAsync(Pool);
        var pool = host.Find("pool-a") ?? throw new InvalidOperationException($"pool-a does not open: {host.Failure("pool-a")}");
        return pool.ListVolumes().Select(v => v.Name).Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task A_volume_the_assignments_leave_out_is_kept()
    {
        await using (var agent = StartAgent())
        {
            await WaitHealthyAsync("pvc-a-pool-a", "pvc-b-pool-a");
        }

        // While the node is away its store loses pvc-b's record (a partial list: an older backup restored, a bug)
        // and gains pvc-c's. Back, it is assigned pvc-a and pvc-c only.
        Assert.True(await _control.Services.Resources.DeleteAsync((await ReplicaAsync("pvc-b-pool-a"))!));
        await AddReplicaAsync("pvc-c");
        await using (var agent = StartAgent())
        {
            await WaitHealthyAsync("pvc-a-pool-a", "pvc-c-pool-a"); // a round of hosting the partial list is done
        }

        Assert.Equal(["pvc-a", "pvc-b", "pvc-c"], await VolumesInPoolAsync());
        Assert.DoesNotContain(_log, line => line.Contains("deleted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_replica_marked_deleting_has_its_volume_deleted_and_its_record_finalized()
    {
        await using (var agent = StartAgent())
        {
            await WaitHealthyAsync("pvc-a-pool-a", "pvc-b-pool-a");

            var replica = (await ReplicaAsync("pvc-a-pool-a"))!;
            replica.Metadata.DeletionTimestamp = DateTimeOffset.UtcNow;
            Assert.True(await _control.Services.Resources.UpdateAsync(replica));
            await WaitAsync(async () => await ReplicaAsync("pvc-a-pool-a") is null, "the node to finalize pvc-a-pool-a");
            Assert.NotNull(await ReplicaAsync("pvc-b-pool-a"));
        }

        Assert.Equal(["pvc-b"], await VolumesInPoolAsync());
        Assert.Contains(_log, line => line.Contains("replica pvc-a-pool-a: volume deleted from pool pool-a", StringComparison.Ordinal));
    }
}
