using System.Buffers;

namespace Strata.Replication.Protocol;

/// <summary>
/// The replica protocol's encoder and decoder: frames (<see cref="FrameHeader"/> and payload) to and from the
/// buffers of a PipeReader and PipeWriter. Neither allocates.
/// </summary>
public static class FrameCodec
{
    /// <summary>
    /// Takes one whole frame off the front of <paramref name="buffer"/>: false (and <paramref name="buffer"/> unchanged)
    /// when it does not hold one yet. The header is checked as soon as its 40 bytes are there, so a bad or oversize
    /// frame is refused before its payload is waited for; the payload's CRC32C is checked once it is all there.
    /// Throws <see cref="ReplicaProtocolException"/>, and nothing else, for a frame that breaks the protocol.
    /// </summary>
    /// <param name="payload">A slice of <paramref name="buffer"/>: valid until the reader is advanced past it.</param>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out FrameHeader header, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        if (!TryReadHeader(buffer, out header))
        {
            return false;
        }

        if (buffer.Length - FrameHeader.Size < header.PayloadLength)
        {
            return false;
        }

        payload = buffer.Slice(FrameHeader.Size, header.PayloadLength);
        uint crc = Crc(payload);
        if (crc != header.PayloadCrc)
        {
            throw new ReplicaProtocolException(
                $"payload CRC32C mismatch on {header.Opcode} {header.RequestId} (frame says 0x{header.PayloadCrc:x8}, payload is 0x{crc:x8})",
                header.RequestId);
        }

        buffer = buffer.Slice(payload.End);
        return true;
    }

    /// <summary>Reads and checks the header at the front of <paramref name="buffer"/>; false when fewer than 40 bytes are there.</summary>
    public static bool TryReadHeader(in ReadOnlySequence<byte> buffer, out FrameHeader header)
    {
        if (buffer.Length < FrameHeader.Size)
        {
            // What is there of the magic and version is judged at once: garbage is refused without waiting for 40 bytes.
            Span<byte> start = stackalloc byte[6];
            var known = start[..(int)Math.Min(buffer.Length, 6)];
            buffer.Slice(0, known.Length).CopyTo(known);
            FrameHeader.CheckStart(known);
            header = default;
            return false;
        }

        if (buffer.FirstSpan.Length >= FrameHeader.Size)
        {
            header = FrameHeader.Parse(buffer.FirstSpan);
            return true;
        }

        Span<byte> copy = stackalloc byte[FrameHeader.Size];
        buffer.Slice(0, FrameHeader.Size).CopyTo(copy);
        header = FrameHeader.Parse(copy);
        return true;
    }

    /// <summary>CRC32C of a payload that may span segments.</summary>
    public static uint Crc(in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return Crc32C.Compute(payload.FirstSpan);
        }

        uint crc = 0;
        foreach (var segment in payload)
        {
            crc = Crc32C.Append(crc, segment.Span);
        }

        return crc;
    }

    /// <summary>Writes a frame: the header (its payload length and CRC32C taken from <paramref name="payload"/>) and the payload.</summary>
    public static void WriteFrame(IBufferWriter<byte> output, Opcode opcode, byte flags, ulong requestId, ulong lba, uint blockCount, ReadOnlySpan<byte> payload) =>
        WriteFrame(output, opcode, flags, requestId, lba, blockCount, payload, Crc32C.Compute(payload));

    /// <summary>Writes a frame whose payload's CRC32C the caller computed already.</summary>
    public static void WriteFrame(IBufferWriter<byte> output, Opcode opcode, byte flags, ulong requestId, ulong lba, uint blockCount, ReadOnlySpan<byte> payload, uint payloadCrc)
    {
        if (payload.Length > FrameHeader.MaxPayload)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), $"a payload is at most {FrameHeader.MaxPayload} bytes, not {payload.Length}");
        }

        new FrameHeader(opcode, flags, requestId, lba, blockCount, payload.Length, payloadCrc).Write(output.GetSpan(FrameHeader.Size));
        output.Advance(FrameHeader.Size);
        if (!payload.IsEmpty)
        {
            output.Write(payload);
        }
    }
}
