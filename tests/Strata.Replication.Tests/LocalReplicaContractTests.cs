using Strata.Blocks.Contract;

namespace Strata.Replication.Tests;

/// <summary>
/// The <see cref="IBlockDevice"/> contract through a <see cref="LocalReplica"/>: the in-process session of a
/// <see cref="ReplicaServer"/> serving a sparse <see cref="FileBlockDevice"/>. Reopening ends the session and opens
/// another at the same epoch (the replica, and its file, stay up).
/// </summary>
public sealed class LocalReplicaContractTests : BlockDeviceContract, IAsyncLifetime
{
    private readonly ReplicaHost _host = ReplicaHost.Start();
    private int _volumes;

    protected override async ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount)
    {
        string volumeId = $"pvc-{Interlocked.Increment(ref _volumes)}";
        _host.AddVolume(volumeId, blockSize, blockCount);
        return await _host.OpenLocalAsync(volumeId, epoch: 1);
    }

    protected override async ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device)
    {
        var local = (LocalReplica)device;
        await local.DisposeAsync();
        return await _host.OpenLocalAsync(local.VolumeId, local.Epoch);
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _host.DisposeAsync();
    }
}
