using Strata.Blocks.Contract;
using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>
/// The IBlockDevice contract through a <see cref="ReplicatedVolume"/>; reopening is a new target instance at a new
/// epoch over the same replicas.
/// </summary>
public abstract class ReplicatedVolumeContract : BlockDeviceContract
{
    private readonly Dictionary<ReplicatedVolume, Func<Task<ReplicatedVolume>>> _targets = [];

    /// <summary>New replicas of the geometry given, and what opens a new target instance over them.</summary>
    protected abstract Func<Task<ReplicatedVolume>> NewReplicas(int blockSize, long blockCount);

    protected override async ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount) =>
        await OpenAsync(NewReplicas(blockSize, blockCount));

    protected override async ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device)
    {
        await device.DisposeAsync();
        return await OpenAsync(_targets[(ReplicatedVolume)device]);
    }

    private async Task<ReplicatedVolume> OpenAsync(Func<Task<ReplicatedVolume>> open)
    {
        var volume = await open();
        _targets[volume] = open;
        return volume;
    }
}

/// <summary>The contract through a volume of two in-memory replicas.</summary>
public sealed class ReplicatedVolumeContractTests : ReplicatedVolumeContract
{
    protected override Func<Task<ReplicatedVolume>> NewReplicas(int blockSize, long blockCount)
    {
        var rig = new VolumeRig(2, blockSize, blockCount);
        return () => rig.OpenAsync();
    }
}
