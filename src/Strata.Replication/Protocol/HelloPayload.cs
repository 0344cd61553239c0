using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Strata.Replication.Protocol;

/// <summary>
/// The Hello payload: version u16 (the newest the client speaks), epoch u64 (at most 2^63 - 1), then the volume id
/// in UTF-8 (1-255 bytes, the rest of the payload).
/// </summary>
public readonly record struct HelloPayload(ushort Version, long Epoch, string VolumeId)
{
    public const int MaxVolumeIdBytes = 255;
    public const int MinLength = 2 + 8 + 1;
    public const int MaxLength = 2 + 8 + MaxVolumeIdBytes;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public byte[] Encode()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(Epoch);
        int idBytes = StrictUtf8.GetByteCount(VolumeId);
        if (idBytes is 0 or > MaxVolumeIdBytes)
        {
            throw new ArgumentException($"a volume id is 1-{MaxVolumeIdBytes} bytes of UTF-8, not {idBytes}", nameof(VolumeId));
        }

        var bytes = new byte[10 + idBytes];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, Version);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(2), Epoch);
        StrictUtf8.GetBytes(VolumeId, bytes.AsSpan(10));
        return bytes;
    }

    /// <summary>Decodes and checks a Hello payload; <see cref="ReplicaProtocolException"/> when it is malformed.</summary>
    public static HelloPayload Decode(in ReadOnlySequence<byte> payload, ulong requestId)
    {
        if (payload.Length is < MinLength or > MaxLength)
        {
            throw new ReplicaProtocolException($"a Hello payload is {MinLength}-{MaxLength} bytes, not {payload.Length}", requestId);
        }

        Span<byte> bytes = stackalloc byte[MaxLength];
        bytes = bytes[..(int)payload.Length];
        payload.CopyTo(bytes);
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(bytes);
        ulong epoch = BinaryPrimitives.ReadUInt64LittleEndian(bytes[2..]);
        if (epoch > long.MaxValue)
        {
            throw new ReplicaProtocolException($"epoch {epoch} exceeds 2^63 - 1", requestId);
        }

        string volumeId;
        try
        {
            volumeId = StrictUtf8.GetString(bytes[10..]);
        }
        catch (DecoderFallbackException)
        {
            throw new ReplicaProtocolException("the volume id in Hello is not valid UTF-8", requestId);
        }

        return new HelloPayload(version, (long)epoch, volumeId);
    }
}

/// <summary>The HelloOk payload: version u16 (the one the server speaks on this connection), block size u32, block count u64.</summary>
public readonly record struct HelloOkPayload(ushort Version, int BlockSize, long BlockCount)
{
    public const int Length = 2 + 4 + 8;

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Version);
        BinaryPrimitives.WriteInt32LittleEndian(destination[2..], BlockSize);
        BinaryPrimitives.WriteInt64LittleEndian(destination[6..], BlockCount);
    }

    public static HelloOkPayload Decode(in ReadOnlySequence<byte> payload)
    {
        if (payload.Length != Length)
        {
            throw new ReplicaProtocolException($"a HelloOk payload is {Length} bytes, not {payload.Length}");
        }

        Span<byte> bytes = stackalloc byte[Length];
        payload.CopyTo(bytes);
        int blockSize = BinaryPrimitives.ReadInt32LittleEndian(bytes[2..]);
        long blockCount = BinaryPrimitives.ReadInt64LittleEndian(bytes[6..]);
        if (blockSize is < 512 or > 65536 || (blockSize & (blockSize - 1)) != 0 || blockCount < 0)
        {
            throw new ReplicaProtocolException($"HelloOk gives an impossible geometry: {blockCount} blocks of {blockSize} bytes");
        }

        return new HelloOkPayload(BinaryPrimitives.ReadUInt16LittleEndian(bytes), blockSize, blockCount);
    }
}
