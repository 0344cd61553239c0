namespace Strata.Blocks;

/// <summary>
/// Optional knowledge of which blocks of a device are mapped (hold data) and which are deallocated: the iSCSI
/// target's GET LBA STATUS (SBC-3 5.6) answers from it, and a replica rebuild skips what is deallocated.
/// <see cref="IBlockDevice"/> has no such query; a device that can answer implements this, and without it every
/// block counts as mapped.
/// </summary>
public interface IAllocationMap
{
    /// <summary>
    /// Whether <paramref name="lba"/> is mapped, and how many blocks from it (at least 1, at most
    /// <paramref name="maxBlocks"/>) share that state.
    /// </summary>
    ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default);
}
