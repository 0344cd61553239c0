namespace Strata.Pool.OnDisk;

/// <summary>
/// Where things are on every vdev. Metadata is written in whole 4 KiB blocks that are never partly
/// overwritten once durable, so a torn write can only hit the block being written.
/// <code>
///   0 KiB  label copy A           8 KiB  superblock slot 0     16 KiB  metadata log ring (RingBytes)
///   4 KiB  label copy B          12 KiB  superblock slot 1     DataOffset (chunk-aligned)  data chunks
/// </code>
/// </summary>
internal static class DiskLayout
{
    public const int MetadataBlock = 4096;
    public const long LabelOffsetA = 0;
    public const long LabelOffsetB = 4096;
    public const long SuperblockOffset0 = 8192;
    public const long SuperblockOffset1 = 12288;
    public const long RingOffset = 16384;
    public const int MaxVdevs = 64;
    public const int MaxNameBytes = 200;

    public static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

    public static long DataOffset(long ringBytes, int chunkSize) => AlignUp(RingOffset + ringBytes, chunkSize);
}
