using System.Buffers.Binary;

namespace Strata.Replication.Protocol;

/// <summary>
/// The fixed 40-byte header every frame of the replica protocol starts with. All integers are little-endian.
/// </summary>
/// <remarks>
/// <code>
/// offset size  field           meaning
///   0     4    magic           0x50525453, the bytes "STRP"
///   4     2    version         2 (a frame of another version is refused)
///   6     1    opcode          Opcode: Hello 1, HelloOk 2, Read 3, Write 4, Flush 5, Unmap 6, Response 7, Goodbye 8,
///                              GetExtent 9, GetIntent 10, Settle 11
///   7     1    flags/status    requests: FrameFlags (Write: bit 0 = FUA; every other bit, and every bit of other
///                              requests, must be 0); Response: ReplicaStatus (0 Ok, kind + 1 of a
///                              BlockDeviceErrorKind, 255 protocol error)
///   8     8    request id      chosen by the client, unique among its requests in flight; a Response and HelloOk
///                              carry the id of the request they answer
///  16     8    lba             Read, Write, Unmap, GetExtent; GetIntent: its first region (a Response echoes its
///                              request's); 0 in Hello, Flush, Goodbye, Settle
///  24     4    block count     Read, Write, Unmap, GetExtent (its most blocks, at least 1); GetIntent: its most regions,
///                              at least 1 (echoed likewise); 0 in Hello, Flush, Goodbye, Settle
///  28     4    payload length  bytes that follow the header, at most MaxPayload (8 MiB); Read, Flush, Unmap,
///                              GetExtent and Goodbye have none, a Write exactly block count * block size
///  32     4    payload CRC32C  of the payload (0 when there is none)
///  36     4    header CRC32C   of bytes 0-35
///  40          payload
/// </code>
/// Payloads: Hello = version u16, epoch u64 (at most 2^63 - 1), volume id UTF-8 (1-255 bytes, the rest of the
/// payload); HelloOk = version u16, block size u32, block count u64; Write = the blocks; Response = the data of a
/// Read, the <see cref="ExtentPayload"/> of a GetExtent or the <see cref="IntentPayload"/> of a GetIntent when Ok, the error's message in UTF-8 otherwise.
/// docs/replication-protocol.md has the exchange.
/// </remarks>
public readonly struct FrameHeader
{
    public const int Size = 40;

    /// <summary>"STRP" read as a little-endian u32.</summary>
    public const uint Magic = 0x50525453;

    /// <summary>2: GetIntent and Settle (the write-intent log) added to version 1; a peer of another version is refused.</summary>
    public const ushort CurrentVersion = 2;

    /// <summary>The largest payload a frame may carry; a larger length is refused before any of it is read.</summary>
    public const int MaxPayload = 8 << 20;

    public FrameHeader(Opcode opcode, byte flags, ulong requestId, ulong lba, uint blockCount, int payloadLength, uint payloadCrc)
    {
        Opcode = opcode;
        Flags = flags;
        RequestId = requestId;
        Lba = lba;
        BlockCount = blockCount;
        PayloadLength = payloadLength;
        PayloadCrc = payloadCrc;
    }

    public Opcode Opcode { get; }

    /// <summary>Byte 7: a request's <see cref="FrameFlags"/> or a Response's <see cref="ReplicaStatus"/>.</summary>
    public byte Flags { get; }

    public ulong RequestId { get; }

    public ulong Lba { get; }

    public uint BlockCount { get; }

    public int PayloadLength { get; }

    public uint PayloadCrc { get; }

    public ReplicaStatus Status => (ReplicaStatus)Flags;

    public bool Fua => (Flags & (byte)FrameFlags.Fua) != 0;

    /// <summary>Writes the 40 header bytes, the header CRC32C included.</summary>
    public void Write(Span<byte> destination)
    {
        destination = destination[..Size];
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], CurrentVersion);
        destination[6] = (byte)Opcode;
        destination[7] = Flags;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], RequestId);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], Lba);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[24..], BlockCount);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[28..], (uint)PayloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[32..], PayloadCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[36..], Crc32C.Compute(destination[..36]));
    }

    /// <summary>
    /// Reads and checks a header: magic, version, header CRC32C, a known opcode, flags or status valid for it, and a
    /// payload length within <see cref="MaxPayload"/> and allowed for the opcode. Throws
    /// <see cref="ReplicaProtocolException"/> (and nothing else) when any of them is wrong.
    /// </summary>
    public static FrameHeader Parse(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ReplicaProtocolException($"a frame header is {Size} bytes, not {source.Length}");
        }

        CheckStart(source[..6]);

        uint headerCrc = BinaryPrimitives.ReadUInt32LittleEndian(source[36..]);
        uint computed = Crc32C.Compute(source[..36]);
        if (headerCrc != computed)
        {
            throw new ReplicaProtocolException($"header CRC32C mismatch (frame says 0x{headerCrc:x8}, header is 0x{computed:x8})");
        }

        var opcode = (Opcode)source[6];
        byte flags = source[7];
        ulong requestId = BinaryPrimitives.ReadUInt64LittleEndian(source[8..]);
        ulong lba = BinaryPrimitives.ReadUInt64LittleEndian(source[16..]);
        uint blockCount = BinaryPrimitives.ReadUInt32LittleEndian(source[24..]);
        uint payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(source[28..]);
        uint payloadCrc = BinaryPrimitives.ReadUInt32LittleEndian(source[32..]);

        if (payloadLength > MaxPayload)
        {
            throw new ReplicaProtocolException($"payload of {payloadLength} bytes exceeds the limit of {MaxPayload}", requestId);
        }

        var header = new FrameHeader(opcode, flags, requestId, lba, blockCount, (int)payloadLength, payloadCrc);
        header.CheckOpcode();
        return header;
    }

    /// <summary>Checks the first bytes of a header, as many as there are (up to 6): the magic, then the version.</summary>
    internal static void CheckStart(ReadOnlySpan<byte> start)
    {
        Span<byte> magic = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(magic, Magic);
        int n = Math.Min(start.Length, 4);
        if (!start[..n].SequenceEqual(magic[..n]))
        {
            throw new ReplicaProtocolException($"bad magic 0x{Convert.ToHexString(start[..n])}: not a Strata replica protocol frame");
        }

        if (start.Length >= 6)
        {
            ushort version = BinaryPrimitives.ReadUInt16LittleEndian(start[4..]);
            if (version != CurrentVersion)
            {
                throw new ReplicaProtocolException($"frame version {version} is not supported (this side speaks {CurrentVersion})");
            }
        }
    }

    private void CheckOpcode()
    {
        switch (Opcode)
        {
            case Opcode.Hello:
                RequireNoFlags();
                RequireNoAddress();
                if (PayloadLength is < HelloPayload.MinLength or > HelloPayload.MaxLength)
                {
                    throw Error($"a Hello payload is {HelloPayload.MinLength}-{HelloPayload.MaxLength} bytes, not {PayloadLength}");
                }

                break;
            case Opcode.HelloOk:
                RequireNoFlags();
                if (PayloadLength != HelloOkPayload.Length)
                {
                    throw Error($"a HelloOk payload is {HelloOkPayload.Length} bytes, not {PayloadLength}");
                }

                break;
            case Opcode.Read or Opcode.Unmap:
                RequireNoFlags();
                RequireNoPayload();
                break;
            case Opcode.GetExtent or Opcode.GetIntent:
                RequireNoFlags();
                RequireNoPayload();
                if (BlockCount == 0)
                {
                    throw Error($"{Opcode} asks about at least 1 {(Opcode == Opcode.GetExtent ? "block" : "region")}, not 0");
                }

                break;
            case Opcode.Write:
                if ((Flags & ~(byte)FrameFlags.Fua) != 0)
                {
                    throw Error($"unknown Write flags 0x{Flags:x2}");
                }

                break;
            case Opcode.Flush or Opcode.Goodbye or Opcode.Settle:
                RequireNoFlags();
                RequireNoAddress();
                RequireNoPayload();
                break;
            case Opcode.Response:
                if (!Status.IsDefined())
                {
                    throw Error($"unknown response status {Flags}");
                }

                break;
            default:
                throw Error($"unknown opcode {(byte)Opcode}");
        }
    }

    private void RequireNoFlags()
    {
        if (Flags != 0)
        {
            throw Error($"{Opcode} takes no flags, got 0x{Flags:x2}");
        }
    }

    private void RequireNoAddress()
    {
        if (Lba != 0 || BlockCount != 0)
        {
            throw Error($"{Opcode} must carry LBA 0 and block count 0");
        }
    }

    private void RequireNoPayload()
    {
        if (PayloadLength != 0)
        {
            throw Error($"{Opcode} carries no payload, got {PayloadLength} bytes");
        }
    }

    private ReplicaProtocolException Error(string message) => new(message, RequestId);

    public override string ToString() =>
        $"{Opcode} id={RequestId} lba={Lba} blocks={BlockCount} flags=0x{Flags:x2} payload={PayloadLength}";
}
