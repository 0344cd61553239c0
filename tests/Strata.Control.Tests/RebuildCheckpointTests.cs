using Strata.Control.Apply;
using Strata.Control.Nodes;
using Strata.Control.Resources;
using Xunit;
using static Strata.Control.Tests.MemoryCluster;

namespace Strata.Control.Tests;

/// <summary>
/// A volume's rebuild checkpoints as targets record them (docs/replication.md, "Resuming a rebuild"): only by the
/// target of the volume's epoch, only for replicas out of the in-sync set, gone when a replica's membership changes,
/// and handed to the next target with its epoch.
/// </summary>
public sealed class RebuildCheckpointTests : IAsyncLifetime
{
    private MemoryCluster _cluster = null!;
    private VolumeMembership _membership = null!;

    public async Task InitializeAsync()
    {
        _cluster = await OpenAsync();
        _membership = new VolumeMembership(_cluster.Store, _ => { });
        var pools = new List<StoragePool>();
        for (int i = 1; i <= 2; i++)
        {
            await _cluster.AddNodeAsync($"node-{i}", ready: true);
            pools.Add(await _cluster.AddPoolAsync($"pool-{i}", $"node-{i}", 10 * Gi));
        }

        var volume = await _cluster.AddVolumeAsync("pvc-1", 1 * Gi, [.. pools]);
        volume.Status.Epoch = 3;
        volume.Status.InSync = ["pvc-1-pool-1"];
        Assert.True(await _cluster.Resources.UpdateAsync(volume));
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private async Task<Volume> VolumeAsync() => (await _cluster.GetAsync<Volume>(ResourceKind.Volume, "pvc-1"))!;

    private Task SetAsync(long epoch, string replica, long? bytes) =>
        _membership.SetRebuildCheckpointAsync("node-1", "pvc-1", new RebuildCheckpointChange(epoch, replica, bytes), CancellationToken.None);

    [Fact]
    public async Task The_target_of_the_epoch_records_and_clears_a_checkpoint_and_the_next_target_gets_it()
    {
        await SetAsync(3, "pvc-1-pool-2", 64 << 20);
        Assert.Equal(64L << 20, (await VolumeAsync()).Status.RebuildCheckpoints!["pvc-1-pool-2"]);

        var epoch = await _membership.TakeEpochAsync("node-1", "pvc-1", CancellationToken.None);
        Assert.Equal(4, epoch!.Epoch);
        Assert.Equal(64L << 20, epoch.RebuildCheckpoints!["pvc-1-pool-2"]);

        await SetAsync(4, "pvc-1-pool-2", null);
        Assert.Null((await VolumeAsync()).Status.RebuildCheckpoints);
    }

    [Fact]
    public async Task An_older_target_is_refused_and_changes_nothing()
    {
        await SetAsync(3, "pvc-1-pool-2", 1 << 20);
        var e = await Assert.ThrowsAsync<ControlException>(() => SetAsync(2, "pvc-1-pool-2", 8 << 20));
        Assert.Contains("fenced", e.Message, StringComparison.Ordinal);
        Assert.Equal(1L << 20, (await VolumeAsync()).Status.RebuildCheckpoints!["pvc-1-pool-2"]);
    }

    [Fact]
    public async Task A_replica_in_the_set_or_not_of_the_volume_gets_none()
    {
        await SetAsync(3, "pvc-1-pool-1", 1 << 20);
        await SetAsync(3, "pvc-9-pool-9", 1 << 20);
        Assert.Null((await VolumeAsync()).Status.RebuildCheckpoints);
    }

    [Fact]
    public async Task A_replica_joining_or_leaving_the_set_loses_its_checkpoint()
    {
        await SetAsync(3, "pvc-1-pool-2", 1 << 20);
        await _membership.ChangeInSyncAsync("node-1", "pvc-1", new InSyncChange(3, ["pvc-1-pool-1"], ["pvc-1-pool-1", "pvc-1-pool-2"]), CancellationToken.None);
        Assert.Null((await VolumeAsync()).Status.RebuildCheckpoints);

        // Left the set again: whatever a checkpoint said before, it misses writes from now on.
        var volume = await VolumeAsync();
        volume.Status.RebuildCheckpoints = new() { ["pvc-1-pool-2"] = 1 << 20 }; // as if written out of order
        Assert.True(await _cluster.Resources.UpdateAsync(volume));
        await _membership.ChangeInSyncAsync("node-1", "pvc-1", new InSyncChange(3, ["pvc-1-pool-1", "pvc-1-pool-2"], ["pvc-1-pool-1"]), CancellationToken.None);
        Assert.Null((await VolumeAsync()).Status.RebuildCheckpoints);
    }
}
