namespace Strata.Iscsi.Scsi;

/// <summary>
/// The limits a logical unit reports in the Block Limits VPD page (SBC-3 6.5.3) and enforces: a command over a
/// limit ends with ILLEGAL REQUEST, INVALID FIELD IN CDB.
/// </summary>
internal sealed class BlockLimits
{
    public BlockLimits(int blockSize)
    {
        // 4 KiB is what file systems and flash write in one piece and the hole-punch granularity: it is the
        // optimal granularity. It is not reported as the physical block size (LBPPBE stays 0): GET LBA STATUS
        // answers per logical block, and initiators then expect descriptors at physical block boundaries.
        OptimalGranularity = Math.Max(1, 4096 / blockSize);
        // The transport gathers a command's data into one PinnedBufferPool buffer: no more than that per command.
        MaxTransferBlocks = Strata.Blocks.PinnedBufferPool.Shared.MaxBufferSize / blockSize;
        MaxUnmapBlocks = Math.Min(1024 * 1024, (uint)(256L << 20) / (uint)blockSize);
    }

    /// <summary>OPTIMAL TRANSFER LENGTH GRANULARITY and OPTIMAL UNMAP GRANULARITY, in blocks.</summary>
    public int OptimalGranularity { get; }

    /// <summary>READ CAPACITY (16)'s LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.</summary>
    public int PhysicalBlockExponent => 0;

    /// <summary>MAXIMUM TRANSFER LENGTH, in blocks.</summary>
    public int MaxTransferBlocks { get; }

    /// <summary>MAXIMUM COMPARE AND WRITE LENGTH (its CDB has one byte for the count).</summary>
    public int MaxCompareAndWriteBlocks => 255;

    public uint MaxUnmapBlocks { get; }

    public uint MaxUnmapDescriptors => 256;

    /// <summary>MAXIMUM WRITE SAME LENGTH: as much as one transfer (WRITE SAME works in chunks; the limit keeps
    /// one command's time bounded and lets initiators that test with READ/WRITE of that size do so).</summary>
    public ulong MaxWriteSameBlocks => (ulong)MaxTransferBlocks;

    /// <summary>MAXIMUM ATOMIC TRANSFER LENGTH for WRITE ATOMIC (16): written by one device call while the
    /// range is held exclusively, so no other command sees part of it. Atomicity across a crash is the
    /// device's (the pool's copy-on-write writes); a plain file gives it only per file system block.</summary>
    public int MaxAtomicTransferBlocks => 256;
}
