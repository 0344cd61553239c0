using System.Buffers;
using System.Buffers.Binary;

namespace Strata.Replication.Protocol;

/// <summary>
/// The payload of an Ok Response to <see cref="Opcode.GetIntent"/>: region bytes u32, regions u64 (of the whole
/// volume), flags u8 (bit 0: the bitmap was found with regions set when the replica server opened it), then one bit
/// per region answered, LSB first: regions [lba, lba + n) where n = min(block count, regions - lba,
/// <see cref="MaxRegionsPerAnswer"/>).
/// </summary>
public readonly record struct IntentPayload(int RegionBytes, long Regions, bool Recovered)
{
    public const int PrefixLength = 4 + 8 + 1;

    /// <summary>Regions one answer carries at most (the rest of a frame's 8 MiB, 8 a byte): 64 TiB of 1 MiB regions.</summary>
    public const long MaxRegionsPerAnswer = (long)(FrameHeader.MaxPayload - PrefixLength) * 8;

    /// <summary>How many regions from <paramref name="first"/> an answer to <paramref name="asked"/> covers.</summary>
    public static long Answered(ulong first, uint asked, long regions) =>
        first >= (ulong)regions ? 0 : Math.Min(Math.Min(asked, regions - (long)first), MaxRegionsPerAnswer);

    /// <summary>The payload length of an answer covering <paramref name="answered"/> regions.</summary>
    public static int LengthFor(long answered) => PrefixLength + (int)((answered + 7) / 8);

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, RegionBytes);
        BinaryPrimitives.WriteInt64LittleEndian(destination[4..], Regions);
        destination[12] = Recovered ? (byte)1 : (byte)0;
    }

    /// <summary>
    /// Decodes and checks the answer to a GetIntent from <paramref name="first"/> for <paramref name="asked"/> regions:
    /// a region size of at least 1 byte, the request's first region inside the volume, known flags, and the bitmap's
    /// length for the regions it must cover; <see cref="ReplicaProtocolException"/> otherwise.
    /// </summary>
    public static IntentPayload Decode(in ReadOnlySequence<byte> payload, ulong first, uint asked, ulong requestId)
    {
        if (payload.Length < PrefixLength)
        {
            throw new ReplicaProtocolException($"a GetIntent answer is at least {PrefixLength} bytes, not {payload.Length}", requestId);
        }

        Span<byte> prefix = stackalloc byte[PrefixLength];
        payload.Slice(0, PrefixLength).CopyTo(prefix);
        var answer = Parse(prefix);
        if (answer.RegionBytes < 1 || answer.Regions < 1 || first >= (ulong)answer.Regions || prefix[12] > 1)
        {
            throw new ReplicaProtocolException(
                $"a GetIntent answer of {answer.Regions} regions of {answer.RegionBytes} bytes (flags {prefix[12]}) cannot answer for region {first}", requestId);
        }

        int expected = LengthFor(Answered(first, asked, answer.Regions));
        if (payload.Length != expected)
        {
            throw new ReplicaProtocolException($"a GetIntent answer for region {first} carries {payload.Length} bytes, not {expected}", requestId);
        }

        return answer;
    }

    /// <summary>Reads the prefix of an answer already checked by <see cref="Decode"/>.</summary>
    public static IntentPayload Parse(ReadOnlySpan<byte> prefix) =>
        new(BinaryPrimitives.ReadInt32LittleEndian(prefix), BinaryPrimitives.ReadInt64LittleEndian(prefix[4..]), prefix[12] == 1);
}
