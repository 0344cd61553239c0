namespace Strata.Iscsi.Scsi;

/// <summary>
/// The limits a logical unit reports in the Block Limits VPD page (SBC-3 6.5.3) and enforces: a command over a
/// limit ends with ILLEGAL REQUEST, INVALID FIELD IN CDB.
/// </summary>
internal sealed class BlockLimits
{
    public BlockLimits(int blockSize)
    {
        // A 4 KiB physical block: what file systems and flash write in one piece, and the hole-punch granularity.
        LogicalBlocksPerPhysicalBlock = Math.Max(1, 4096 / blockSize);
        MaxTransferBlocks = (8 << 20) / blockSize;
        MaxUnmapBlocks = Math.Min(1024 * 1024, (uint)(256L << 20) / (uint)blockSize);
    }

    public int LogicalBlocksPerPhysicalBlock { get; }

    /// <summary>log2 of <see cref="LogicalBlocksPerPhysicalBlock"/>: READ CAPACITY (16)'s LBPPBE.</summary>
    public int PhysicalBlockExponent => System.Numerics.BitOperations.Log2((uint)LogicalBlocksPerPhysicalBlock);

    /// <summary>MAXIMUM TRANSFER LENGTH: 8 MiB of data per command.</summary>
    public int MaxTransferBlocks { get; }

    /// <summary>MAXIMUM COMPARE AND WRITE LENGTH (its CDB has one byte for the count).</summary>
    public int MaxCompareAndWriteBlocks => 255;

    public uint MaxUnmapBlocks { get; }

    public uint MaxUnmapDescriptors => 256;

    /// <summary>MAXIMUM WRITE SAME LENGTH: 0 reports no limit; WRITE SAME works through the range in chunks.</summary>
    public ulong MaxWriteSameBlocks => 0;

    /// <summary>MAXIMUM ATOMIC TRANSFER LENGTH for WRITE ATOMIC (16): one physical block, written by one device
    /// call while the range is held exclusively.</summary>
    public int MaxAtomicTransferBlocks => LogicalBlocksPerPhysicalBlock;
}
