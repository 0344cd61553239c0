namespace Strata.Blocks;

/// <summary>Why a block device call failed; the iSCSI target maps each kind to its SCSI sense data.</summary>
public enum BlockDeviceErrorKind
{
    /// <summary>The LBA range lies (partly) past the end of the device.</summary>
    OutOfRange,

    /// <summary>No space left to allocate the blocks written (thin provisioning).</summary>
    NoSpace,

    /// <summary>The medium failed to read or write (an I/O error from below).</summary>
    Medium,

    /// <summary>This writer was fenced off by a newer epoch and may not write again.</summary>
    Fenced,

    /// <summary>The device is temporarily not reachable (no in-sync replica, node away).</summary>
    Unavailable,
}

public sealed class BlockDeviceException : IOException
{
    public BlockDeviceException(BlockDeviceErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
    }

    public BlockDeviceErrorKind Kind { get; }

    public static BlockDeviceException OutOfRange(long lba, long blockCount, long deviceBlocks) =>
        new(BlockDeviceErrorKind.OutOfRange,
            $"LBA range [{lba}, {lba + blockCount}) lies outside the device's {deviceBlocks} blocks");
}
