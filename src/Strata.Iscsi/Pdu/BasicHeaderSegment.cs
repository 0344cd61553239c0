using System.Buffers.Binary;

namespace Strata.Iscsi.Pdu;

/// <summary>
/// A view of the 48-byte Basic Header Segment (RFC 7143 11.2.1):
/// <code>
///  byte 0      |.|I| Opcode    |
///  byte 1      |F| opcode-specific
///  bytes 2-3   opcode-specific
///  byte 4      TotalAHSLength (4-byte words)
///  bytes 5-7   DataSegmentLength
///  bytes 8-15  LUN or opcode-specific
///  bytes 16-19 Initiator Task Tag
///  bytes 20-47 opcode-specific (TTT, CmdSN/StatSN, ExpStatSN/ExpCmdSN, MaxCmdSN, ...)
/// </code>
/// Multi-byte fields are big-endian.
/// </summary>
public readonly ref struct BasicHeaderSegment
{
    public const int Length = 48;
    public const uint ReservedTag = 0xFFFFFFFF;

    private readonly Span<byte> _b;

    public BasicHeaderSegment(Span<byte> bytes)
    {
        _b = bytes[..Length];
    }

    public Span<byte> Bytes => _b;

    public Opcode Opcode
    {
        get => (Opcode)(_b[0] & 0x3F);
        set => _b[0] = (byte)((_b[0] & 0x40) | (byte)value);
    }

    /// <summary>The I bit: an immediate command, delivered at once and not advancing CmdSN.</summary>
    public bool Immediate => (_b[0] & 0x40) != 0;

    /// <summary>The F bit (final) of byte 1.</summary>
    public bool Final
    {
        get => (_b[1] & 0x80) != 0;
        set => _b[1] = value ? (byte)(_b[1] | 0x80) : (byte)(_b[1] & 0x7F);
    }

    public byte Flags
    {
        get => _b[1];
        set => _b[1] = value;
    }

    public int TotalAhsLength
    {
        get => _b[4] * 4;
        set => _b[4] = (byte)(value / 4);
    }

    public int DataSegmentLength
    {
        get => (_b[5] << 16) | (_b[6] << 8) | _b[7];
        set
        {
            _b[5] = (byte)(value >> 16);
            _b[6] = (byte)(value >> 8);
            _b[7] = (byte)value;
        }
    }

    public ulong Lun
    {
        get => BinaryPrimitives.ReadUInt64BigEndian(_b[8..]);
        set => BinaryPrimitives.WriteUInt64BigEndian(_b[8..], value);
    }

    public uint InitiatorTaskTag
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[16..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[16..], value);
    }

    /// <summary>Bytes 20-23: Target Transfer Tag, or Expected Data Transfer Length (SCSI Command), or CID.</summary>
    public uint Word20
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[20..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[20..], value);
    }

    /// <summary>Bytes 24-27: CmdSN (initiator PDUs) or StatSN (target PDUs).</summary>
    public uint Word24
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[24..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[24..], value);
    }

    /// <summary>Bytes 28-31: ExpStatSN (initiator PDUs) or ExpCmdSN (target PDUs).</summary>
    public uint Word28
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[28..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[28..], value);
    }

    /// <summary>Bytes 32-35: MaxCmdSN on target PDUs; other fields elsewhere.</summary>
    public uint Word32
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[32..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[32..], value);
    }

    public uint Word36
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[36..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[36..], value);
    }

    public uint Word40
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[40..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[40..], value);
    }

    public uint Word44
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_b[44..]);
        set => BinaryPrimitives.WriteUInt32BigEndian(_b[44..], value);
    }

    // Names of the initiator PDUs' fields.
    public uint TargetTransferTag => Word20;

    public uint ExpectedDataTransferLength => Word20;

    public uint CmdSN => Word24;

    public uint ExpStatSN => Word28;

    /// <summary>The CDB of a SCSI Command PDU: bytes 32-47.</summary>
    public Span<byte> Cdb => _b.Slice(32, 16);

    /// <summary>DataSN of a Data-Out PDU (bytes 36-39).</summary>
    public uint DataSN => Word36;

    /// <summary>Buffer Offset of a Data-Out PDU (bytes 40-43).</summary>
    public uint BufferOffset => Word40;

    /// <summary>Resets the header to zeros with an opcode, ready to fill in a target PDU.</summary>
    public void Clear(Opcode opcode)
    {
        _b.Clear();
        _b[0] = (byte)opcode;
    }

    /// <summary>The size of the data segment on the wire, padded to a 4-byte boundary (RFC 7143 11.2.3).</summary>
    public static int Padded(int length) => (length + 3) & ~3;
}
