using System.Buffers.Binary;
using System.Text;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>
/// One initiator PDU as the fuzzer builds it: a 48-byte BHS, an optional AHS and a data segment, laid out byte by
/// byte from RFC 7143 section 11 (independently of the target's own codec, so a shared misreading cannot hide a
/// bug). <see cref="Serialize"/> adds padding and, when the connection negotiated them, the digests.
/// </summary>
internal sealed class InitiatorPdu
{
    public InitiatorPdu(byte opcode, bool immediate = false)
    {
        Header[0] = (byte)((immediate ? 0x40 : 0) | (opcode & 0x3F));
    }

    public byte[] Header { get; } = new byte[48];

    /// <summary>Additional header segments, a multiple of 4 bytes (RFC 7143 11.2.2).</summary>
    public byte[] Ahs { get; set; } = [];

    public byte[] Data { get; set; } = [];

    public byte Opcode => (byte)(Header[0] & 0x3F);

    public byte Flags
    {
        get => Header[1];
        set => Header[1] = value;
    }

    public ulong Lun
    {
        set => BinaryPrimitives.WriteUInt64BigEndian(Header.AsSpan(8), value);
    }

    public uint Itt
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(Header.AsSpan(16));
        set => BinaryPrimitives.WriteUInt32BigEndian(Header.AsSpan(16), value);
    }

    public uint this[int wordOffset]
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(Header.AsSpan(wordOffset));
        set => BinaryPrimitives.WriteUInt32BigEndian(Header.AsSpan(wordOffset), value);
    }

    /// <summary>Sets TotalAHSLength and DataSegmentLength from <see cref="Ahs"/> and <see cref="Data"/>.</summary>
    public InitiatorPdu Seal()
    {
        Header[4] = (byte)(Ahs.Length / 4);
        SetDataSegmentLength(Data.Length);
        return this;
    }

    public void SetDataSegmentLength(int length)
    {
        Header[5] = (byte)(length >> 16);
        Header[6] = (byte)(length >> 8);
        Header[7] = (byte)length;
    }

    /// <summary>The wire bytes: BHS, AHS, header digest, data, padding, data digest (RFC 7143 11.2).</summary>
    public byte[] Serialize(bool headerDigest, bool dataDigest)
    {
        int padded = (Data.Length + 3) & ~3;
        int size = 48 + Ahs.Length + (headerDigest ? 4 : 0) + padded + (dataDigest && Data.Length > 0 ? 4 : 0);
        var bytes = new byte[size];
        Header.CopyTo(bytes, 0);
        Ahs.CopyTo(bytes, 48);
        int at = 48 + Ahs.Length;
        if (headerDigest)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), TestCrc32C.Compute(bytes.AsSpan(0, at)));
            at += 4;
        }

        Data.CopyTo(bytes, at);
        if (dataDigest && Data.Length > 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + padded), TestCrc32C.Compute(bytes.AsSpan(at, padded)));
        }

        return bytes;
    }

    // ---- Builders, one per initiator opcode (RFC 7143 11.3 - 11.16) ----

    /// <summary>SCSI Command (11.3): F, R, W and ATTR in byte 1, EDTL, CmdSN, ExpStatSN, CDB in bytes 32-47.</summary>
    public static InitiatorPdu ScsiCommand(uint itt, uint cmdSN, uint expStatSN, ReadOnlySpan<byte> cdb, uint edtl,
        bool read, bool write, byte[]? immediateData = null, bool final = true, bool immediate = false, ulong lun = 0)
    {
        var pdu = new InitiatorPdu(0x01, immediate)
        {
            Flags = (byte)((final ? 0x80 : 0) | (read ? 0x40 : 0) | (write ? 0x20 : 0) | 0x01),
            Lun = lun,
            Itt = itt,
            Data = immediateData ?? [],
        };
        pdu[20] = edtl;
        pdu[24] = cmdSN;
        pdu[28] = expStatSN;
        cdb[..Math.Min(16, cdb.Length)].CopyTo(pdu.Header.AsSpan(32));
        if (cdb.Length > 16)
        {
            // Extended CDB AHS (11.2.2.3): AHSLength = CDB length - 15, type 1, a reserved byte, the rest of the CDB.
            int ahsLength = cdb.Length - 15;
            var ahs = new byte[(3 + ahsLength + 3) & ~3];
            BinaryPrimitives.WriteUInt16BigEndian(ahs, (ushort)ahsLength);
            ahs[2] = 1;
            cdb[16..].CopyTo(ahs.AsSpan(4));
            pdu.Ahs = ahs;
        }

        return pdu.Seal();
    }

    /// <summary>SCSI Data-Out (11.7): TTT, DataSN and Buffer Offset.</summary>
    public static InitiatorPdu DataOut(uint itt, uint ttt, uint expStatSN, uint dataSN, uint offset, byte[] data, bool final, ulong lun = 0)
    {
        var pdu = new InitiatorPdu(0x05) { Flags = (byte)(final ? 0x80 : 0), Lun = lun, Itt = itt, Data = data };
        pdu[20] = ttt;
        pdu[28] = expStatSN;
        pdu[36] = dataSN;
        pdu[40] = offset;
        return pdu.Seal();
    }

    /// <summary>NOP-Out (11.18): a ping (ITT set, TTT reserved) or an answer to a NOP-In (ITT reserved, TTT echoed).</summary>
    public static InitiatorPdu NopOut(uint itt, uint ttt, uint cmdSN, uint expStatSN, byte[]? data = null, bool immediate = true)
    {
        var pdu = new InitiatorPdu(0x00, immediate) { Flags = 0x80, Itt = itt, Data = data ?? [] };
        pdu[20] = ttt;
        pdu[24] = cmdSN;
        pdu[28] = expStatSN;
        return pdu.Seal();
    }

    /// <summary>Text Request (11.10): F and C bits, TTT reserved for a new exchange.</summary>
    public static InitiatorPdu TextRequest(uint itt, uint cmdSN, uint expStatSN, byte[] text, bool immediate = true, bool final = true)
    {
        var pdu = new InitiatorPdu(0x04, immediate) { Flags = (byte)(final ? 0x80 : 0x40), Itt = itt, Data = text };
        pdu[20] = 0xFFFFFFFF;
        pdu[24] = cmdSN;
        pdu[28] = expStatSN;
        return pdu.Seal();
    }

    /// <summary>Task Management Function Request (11.5): function in byte 1, Referenced Task Tag, RefCmdSN.</summary>
    public static InitiatorPdu TaskManagement(uint itt, uint cmdSN, uint expStatSN, byte function, uint referencedTag, uint refCmdSN, bool immediate = true, ulong lun = 0)
    {
        var pdu = new InitiatorPdu(0x02, immediate) { Flags = (byte)(0x80 | (function & 0x7F)), Lun = lun, Itt = itt };
        pdu[20] = referencedTag;
        pdu[24] = cmdSN;
        pdu[28] = expStatSN;
        pdu[32] = refCmdSN;
        return pdu.Seal();
    }

    /// <summary>Logout Request (11.14): reason code in byte 1, CID in bytes 20-21.</summary>
    public static InitiatorPdu Logout(uint itt, uint cmdSN, uint expStatSN, byte reason = 0, ushort cid = 0, bool immediate = true)
    {
        var pdu = new InitiatorPdu(0x06, immediate) { Flags = (byte)(0x80 | (reason & 0x7F)), Itt = itt };
        BinaryPrimitives.WriteUInt16BigEndian(pdu.Header.AsSpan(20), cid);
        pdu[24] = cmdSN;
        pdu[28] = expStatSN;
        return pdu.Seal();
    }

    /// <summary>SNACK Request (11.16): type in byte 1, BegRun and RunLength.</summary>
    public static InitiatorPdu Snack(uint itt, uint ttt, uint expStatSN, byte type, uint begRun, uint runLength)
    {
        var pdu = new InitiatorPdu(0x10) { Flags = (byte)(0x80 | (type & 0x0F)), Itt = itt };
        pdu[20] = ttt;
        pdu[28] = expStatSN;
        pdu[40] = begRun;
        pdu[44] = runLength;
        return pdu.Seal();
    }

    /// <summary>Login Request (11.12): T, C, CSG, NSG; versions; ISID, TSIH, CID; text keys.</summary>
    public static InitiatorPdu Login(ulong isid, ushort tsih, uint itt, ushort cid, uint cmdSN, uint expStatSN,
        int currentStage, int nextStage, bool transit, byte[] text, bool @continue = false)
    {
        var pdu = new InitiatorPdu(0x03, immediate: true)
        {
            Flags = (byte)((transit ? 0x80 : 0) | (@continue ? 0x40 : 0) | ((currentStage & 3) << 2) | (nextStage & 3)),
            Itt = itt,
            Data = text,
        };
        pdu.Header[2] = 0; // Version-max
        pdu.Header[3] = 0; // Version-min
        BinaryPrimitives.WriteUInt16BigEndian(pdu.Header.AsSpan(8), (ushort)(isid >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(pdu.Header.AsSpan(10), (uint)isid);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.Header.AsSpan(14), tsih);
        BinaryPrimitives.WriteUInt16BigEndian(pdu.Header.AsSpan(20), cid);
        pdu[24] = cmdSN;
        pdu[28] = expStatSN;
        return pdu.Seal();
    }

    /// <summary>Text keys as the data segment of a Login or Text Request: key=value, each NUL-terminated (RFC 7143 6.1).</summary>
    public static byte[] Keys(params (string Key, string Value)[] pairs)
    {
        var sb = new StringBuilder();
        foreach (var (key, value) in pairs)
        {
            sb.Append(key).Append('=').Append(value).Append('\0');
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}

/// <summary>A PDU the target sent: its BHS (the 48 bytes) and data segment, digests checked and removed.</summary>
internal sealed record TargetPdu(byte[] Header, byte[] Data)
{
    public byte Opcode => (byte)(Header[0] & 0x3F);

    public byte Flags => Header[1];

    public uint Itt => BinaryPrimitives.ReadUInt32BigEndian(Header.AsSpan(16));

    public uint Word(int offset) => BinaryPrimitives.ReadUInt32BigEndian(Header.AsSpan(offset));

    public uint StatSN => Word(24);

    public uint ExpCmdSN => Word(28);

    public uint MaxCmdSN => Word(32);

    public override string ToString() => $"opcode 0x{Opcode:x2} flags 0x{Flags:x2} itt {Itt:x8} dsl {Data.Length} bhs {Convert.ToHexString(Header)}";
}

/// <summary>CRC32C (RFC 3385) from its own table, independent of the target's implementation.</summary>
internal static class TestCrc32C
{
    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(i =>
    {
        uint c = (uint)i;
        for (int k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78 : c >> 1;
        }

        return c;
    }).ToArray();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }
}
