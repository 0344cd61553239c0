using System.Net;
using Strata.Blocks.Contract;

namespace Strata.Replication.Tests;

/// <summary>
/// The <see cref="IBlockDevice"/> contract through the replica protocol: a <see cref="ReplicaClient"/> over loopback
/// TCP to a <see cref="ReplicaServer"/> serving a sparse <see cref="FileBlockDevice"/>. Reopening closes the client
/// and connects again with the same epoch (the replica, and its file, stay up).
/// </summary>
public sealed class ReplicaClientContractTests : BlockDeviceContract, IAsyncLifetime
{
    private readonly ReplicaHost _host = ReplicaHost.Start();
    private int _volumes;

    protected override async ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount)
    {
        string volumeId = $"pvc-{Interlocked.Increment(ref _volumes)}";
        _host.AddVolume(volumeId, blockSize, blockCount);
        return await _host.ConnectAsync(volumeId, epoch: 1);
    }

    protected override async ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device)
    {
        var client = (ReplicaClient)device;
        await client.DisposeAsync();
        return await ReplicaClient.ConnectAsync(client.RemoteEndPoint, client.VolumeId, client.Epoch);
    }

    public new async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _host.DisposeAsync();
    }
}
