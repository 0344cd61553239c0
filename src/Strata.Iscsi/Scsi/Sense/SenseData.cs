using System.Buffers.Binary;

namespace Strata.Iscsi.Scsi.Sense;

/// <summary>
/// What a CHECK CONDITION reports: sense key, ASC/ASCQ, and optionally the INFORMATION field and a
/// sense-key-specific field pointer (SPC-4 4.5.2.4.2). Encoded fixed (70h, SPC-4 4.5.3) by default or as
/// descriptors (72h, SPC-4 4.5.2) when the control mode page's D_SENSE bit is set.
/// </summary>
public readonly struct SenseData
{
    private readonly ushort _fieldPointer;
    private readonly byte _sks0;

    private SenseData(SenseKey key, AdditionalSense code, long? information, byte sks0, ushort fieldPointer)
    {
        Key = key;
        Code = code;
        Information = information;
        _sks0 = sks0;
        _fieldPointer = fieldPointer;
    }

    public SenseKey Key { get; }

    public AdditionalSense Code { get; }

    /// <summary>The INFORMATION field (e.g. the offset of the first miscompare, SBC-3 5.3), when valid.</summary>
    public long? Information { get; }

    public bool HasFieldPointer => (_sks0 & 0x80) != 0;

    /// <summary>The byte the field pointer names (in the CDB or the parameter list).</summary>
    public int FieldPointer => _fieldPointer;

    public static SenseData Of(SenseKey key, AdditionalSense code) => new(key, code, null, 0, 0);

    public static SenseData WithInformation(SenseKey key, AdditionalSense code, long information) =>
        new(key, code, information, 0, 0);

    /// <summary>ILLEGAL REQUEST, INVALID FIELD IN CDB with SKSV set, C/D=1, pointing at <paramref name="byteIndex"/>
    /// and, when given, <paramref name="bit"/> (SPC-4 4.5.2.4.2).</summary>
    public static SenseData InvalidFieldInCdb(int byteIndex, int bit = -1) =>
        new(SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInCdb, null, FieldPointerByte(true, bit), (ushort)byteIndex);

    /// <summary>ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST with SKSV set, C/D=0.</summary>
    public static SenseData InvalidFieldInParameterList(int byteIndex, int bit = -1) =>
        new(SenseKey.IllegalRequest, AdditionalSense.InvalidFieldInParameterList, null, FieldPointerByte(false, bit), (ushort)byteIndex);

    public static SenseData IllegalRequest(AdditionalSense code) => Of(SenseKey.IllegalRequest, code);

    public static readonly SenseData InvalidOpcode = Of(SenseKey.IllegalRequest, AdditionalSense.InvalidCommandOperationCode);
    public static readonly SenseData LbaOutOfRange = Of(SenseKey.IllegalRequest, AdditionalSense.LbaOutOfRange);
    public static readonly SenseData ParameterListLengthError = Of(SenseKey.IllegalRequest, AdditionalSense.ParameterListLengthError);
    public static readonly SenseData LogicalUnitNotSupported = Of(SenseKey.IllegalRequest, AdditionalSense.LogicalUnitNotSupported);
    public static readonly SenseData WriteProtected = Of(SenseKey.DataProtect, AdditionalSense.WriteProtected);

    /// <summary>Writes the sense data; returns its length.</summary>
    public int WriteTo(Span<byte> buffer, bool descriptorFormat)
    {
        return descriptorFormat ? WriteDescriptor(buffer) : WriteFixed(buffer);
    }

    private int WriteFixed(Span<byte> b)
    {
        // SPC-4 4.5.3, table 26: 18 bytes, response code 70h (current error).
        b[..18].Clear();
        b[0] = 0x70;
        if (Information is { } info && info >= 0 && info <= uint.MaxValue)
        {
            b[0] |= 0x80; // VALID: the INFORMATION field holds a value
            BinaryPrimitives.WriteUInt32BigEndian(b[3..], (uint)info);
        }

        b[2] = (byte)Key;
        b[7] = 10;
        b[12] = Code.Asc;
        b[13] = Code.Ascq;
        if (HasFieldPointer)
        {
            b[15] = _sks0;
            BinaryPrimitives.WriteUInt16BigEndian(b[16..], _fieldPointer);
        }

        return 18;
    }

    private int WriteDescriptor(Span<byte> b)
    {
        // SPC-4 4.5.2: 8-byte header, then descriptors.
        b[..8].Clear();
        b[0] = 0x72;
        b[1] = (byte)Key;
        b[2] = Code.Asc;
        b[3] = Code.Ascq;
        int at = 8;
        if (Information is { } info)
        {
            // Information descriptor, SPC-4 4.5.2.2.
            b.Slice(at, 12).Clear();
            b[at] = 0x00;
            b[at + 1] = 0x0A;
            b[at + 2] = 0x80;
            BinaryPrimitives.WriteInt64BigEndian(b[(at + 4)..], info);
            at += 12;
        }

        if (HasFieldPointer)
        {
            // Sense key specific descriptor, SPC-4 4.5.2.4.
            b.Slice(at, 8).Clear();
            b[at] = 0x02;
            b[at + 1] = 0x06;
            b[at + 4] = _sks0;
            BinaryPrimitives.WriteUInt16BigEndian(b[(at + 5)..], _fieldPointer);
            at += 8;
        }

        b[7] = (byte)(at - 8);
        return at;
    }

    private static byte FieldPointerByte(bool inCdb, int bit)
    {
        byte v = 0x80; // SKSV
        if (inCdb)
        {
            v |= 0x40; // C/D: the error is in the CDB
        }

        if (bit is >= 0 and <= 7)
        {
            v |= (byte)(0x08 | bit); // BPV and BIT POINTER
        }

        return v;
    }

    public override string ToString() => $"{Key} {Code.Asc:X2}h/{Code.Ascq:X2}h";
}
