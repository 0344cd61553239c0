namespace Strata.Pool.OnDisk;

/// <summary>
/// What a vdev says about itself and its pool, written twice at creation (and on replace) and never
/// changed after: the pool's identity (UUID, name, layout, chunk size), this vdev's index and generation (a
/// replacement gets the next one, so the vdev it replaced is known stale), every vdev's path at creation and size
/// in chunks, and where the log ring and the data begin. Checksummed with CRC32C.
/// </summary>
internal sealed record VdevLabel(
    Guid PoolId,
    string PoolName,
    PoolLayout Layout,
    int ChunkSize,
    int VdevIndex,
    uint Generation,
    IReadOnlyList<string> VdevPaths,
    IReadOnlyList<long> VdevChunks,
    long RingBytes,
    long DataOffset,
    long CreatedUnixMs,
    long OvercommitLimitBytes)
{
    private const ulong Magic = 0x4C_42_4C_44_56_41_54_53; // "STAVDLBL"
    private const uint Version = 1;

    public byte[] Encode()
    {
        var w = new MetadataWriter();
        w.U64(Magic);
        w.U32(Version);
        w.U32(0); // CRC, filled below
        w.Bytes(PoolId.ToByteArray());
        w.String(PoolName);
        w.U8((byte)Layout);
        w.U32((uint)ChunkSize);
        w.U16((ushort)VdevIndex);
        w.U32(Generation);
        w.U16((ushort)VdevPaths.Count);
        for (int i = 0; i < VdevPaths.Count; i++)
        {
            w.String(VdevPaths[i]);
            w.I64(VdevChunks[i]);
        }

        w.I64(RingBytes);
        w.I64(DataOffset);
        w.I64(CreatedUnixMs);
        w.I64(OvercommitLimitBytes);
        return ChecksummedBlock.Seal(w);
    }

    /// <summary>The label in <paramref name="block"/>, or null when it is not a valid label (never written, torn, not ours).</summary>
    /// <summary>
    /// Whether either label slot of the file or device starts with the label's magic, valid or damaged: a disk that
    /// carries one holds (or held) a pool, and nothing may be created over it without an explicit wipe.
    /// </summary>
    public static bool IsPresent(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> magic = stackalloc byte[8];
        foreach (long offset in new[] { DiskLayout.LabelOffsetA, DiskLayout.LabelOffsetB })
        {
            if (RandomAccess.Read(handle, magic, offset) == magic.Length && System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(magic) == Magic)
            {
                return true;
            }
        }

        return false;
    }

    public static VdevLabel? TryDecode(ReadOnlySpan<byte> block)
    {
        if (ChecksummedBlock.Open(block, Magic) is not { } fields)
        {
            return null;
        }

        try
        {
            var r = new MetadataReader(fields);
            var poolId = new Guid(r.Take(16));
            string name = r.String();
            var layout = (PoolLayout)r.U8();
            int chunkSize = (int)r.U32();
            int index = r.U16();
            uint generation = r.U32();
            int count = r.U16();
            var paths = new string[count];
            var chunks = new long[count];
            for (int i = 0; i < count; i++)
            {
                paths[i] = r.String();
                chunks[i] = r.I64();
            }

            return new VdevLabel(poolId, name, layout, chunkSize, index, generation, paths, chunks, r.I64(), r.I64(), r.I64(), r.I64());
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
