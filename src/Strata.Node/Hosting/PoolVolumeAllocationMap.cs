using Strata.Iscsi.Scsi;
using Strata.Pool;

namespace Strata.Node.Hosting;

/// <summary>GET LBA STATUS for a pool volume, from its chunk map.</summary>
public sealed class PoolVolumeAllocationMap(PoolVolume volume) : IAllocationMap
{
    public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default) =>
        ValueTask.FromResult(volume.GetExtent(lba, maxBlocks));
}
