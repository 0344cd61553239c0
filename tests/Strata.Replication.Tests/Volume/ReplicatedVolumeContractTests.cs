using Strata.Blocks.Contract;
using Strata.Replication.Tests.Volume;
using Strata.Replication.Volume;

namespace Strata.Replication.Tests.Volume;

/// <summary>The IBlockDevice contract through a <see cref="ReplicatedVolume"/> of two in-memory replicas; reopening is a new target instance at a new epoch.</summary>
public sealed class ReplicatedVolumeContractTests : BlockDeviceContract
{
    private readonly Dictionary<ReplicatedVolume, VolumeRig> _rigs = [];

    protected override async ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount)
    {
        var rig = new VolumeRig(2, blockSize, blockCount);
        var volume = await rig.OpenAsync();
        _rigs[volume] = rig;
        return volume;
    }

    protected override async ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device)
    {
        var rig = _rigs[(ReplicatedVolume)device];
        await device.DisposeAsync();
        var volume = await rig.OpenAsync();
        _rigs[volume] = rig;
        return volume;
    }
}
