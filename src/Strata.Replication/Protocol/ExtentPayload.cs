using System.Buffers;
using System.Buffers.Binary;

namespace Strata.Replication.Protocol;

/// <summary>
/// The payload of an Ok Response to <see cref="Opcode.GetExtent"/>: mapped u8 (1 mapped, 0 deallocated), then
/// blocks i64, how many blocks from the request's LBA share that state (at least 1, at most its block count).
/// </summary>
public readonly record struct ExtentPayload(bool Mapped, long Blocks)
{
    public const int Length = 1 + 8;

    public void Write(Span<byte> destination)
    {
        destination[0] = Mapped ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt64LittleEndian(destination[1..], Blocks);
    }

    /// <summary>Decodes and checks the answer to a GetExtent of <paramref name="maxBlocks"/>;
    /// <see cref="ReplicaProtocolException"/> when it is malformed.</summary>
    public static ExtentPayload Decode(in ReadOnlySequence<byte> payload, uint maxBlocks, ulong requestId)
    {
        if (payload.Length != Length)
        {
            throw new ReplicaProtocolException($"a GetExtent answer is {Length} bytes, not {payload.Length}", requestId);
        }

        Span<byte> bytes = stackalloc byte[Length];
        payload.CopyTo(bytes);
        long blocks = BinaryPrimitives.ReadInt64LittleEndian(bytes[1..]);
        if (bytes[0] > 1 || blocks < 1 || blocks > maxBlocks)
        {
            throw new ReplicaProtocolException(
                $"a GetExtent answer of mapped={bytes[0]} for {blocks} blocks is impossible (1 or 0, for 1-{maxBlocks} blocks)", requestId);
        }

        return new ExtentPayload(bytes[0] == 1, blocks);
    }
}
