using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Strata.Blocks;

/// <summary>
/// CRC32C (Castagnoli): the iSCSI header and data digest (RFC 7143 13.1, RFC 3385; sent little-endian on the
/// wire) and the pool's metadata checksum. Uses the SSE4.2 crc32 instruction where the CPU has it, a table otherwise.
/// </summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78; // reflected 0x1EDC6F41
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues a CRC over more data: Append(Append(0, a), b) == Compute(a + b).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint c = ~crc;
        if (Sse42.X64.IsSupported)
        {
            ulong c64 = c;
            while (data.Length >= 8)
            {
                c64 = Sse42.X64.Crc32(c64, MemoryMarshal.Read<ulong>(data));
                data = data[8..];
            }

            c = (uint)c64;
        }

        if (Sse42.IsSupported)
        {
            foreach (byte b in data)
            {
                c = Sse42.Crc32(c, b);
            }

            return ~c;
        }

        foreach (byte b in data)
        {
            c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        }

        return ~c;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
