using System.Buffers.Binary;
using Strata.Blocks;

namespace Strata.Pool.OnDisk;

/// <summary>
/// A 4 KiB metadata block that starts with an 8-byte magic, a 4-byte version and a 4-byte CRC32C of the whole
/// block (computed with the CRC field zero): labels and superblocks.
/// </summary>
internal static class ChecksummedBlock
{
    private const int CrcOffset = 12;

    /// <summary>Pads <paramref name="w"/> to a block and fills in its CRC.</summary>
    public static byte[] Seal(MetadataWriter w)
    {
        w.PadTo(DiskLayout.MetadataBlock);
        var bytes = w.Written.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(CrcOffset), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(CrcOffset), Crc32C.Compute(bytes));
        return bytes;
    }

    /// <summary>The block's fields after the 16-byte header, or null when the magic or the CRC is wrong.</summary>
    public static byte[]? Open(ReadOnlySpan<byte> block, ulong magic)
    {
        if (block.Length < DiskLayout.MetadataBlock || BinaryPrimitives.ReadUInt64LittleEndian(block) != magic)
        {
            return null;
        }

        var copy = block[..DiskLayout.MetadataBlock].ToArray();
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(CrcOffset));
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(CrcOffset), 0);
        return Crc32C.Compute(copy) == crc ? copy[16..] : null;
    }
}
