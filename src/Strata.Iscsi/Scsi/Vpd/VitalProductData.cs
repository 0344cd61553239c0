using System.Buffers.Binary;
using System.Text;
using Strata.Iscsi.Scsi.Commands;

namespace Strata.Iscsi.Scsi.Vpd;

/// <summary>The VPD pages (SPC-4 7.8, SBC-3 6.5) of a block logical unit.</summary>
internal static class VitalProductData
{
    public const byte SupportedPages = 0x00;
    public const byte UnitSerialNumber = 0x80;
    public const byte DeviceIdentification = 0x83;
    public const byte ThirdPartyCopy = 0x8F;
    public const byte BlockLimits = 0xB0;
    public const byte BlockDeviceCharacteristics = 0xB1;
    public const byte LogicalBlockProvisioning = 0xB2;

    private static readonly byte[] Pages =
        [SupportedPages, UnitSerialNumber, DeviceIdentification, ThirdPartyCopy, BlockLimits, BlockDeviceCharacteristics, LogicalBlockProvisioning];

    /// <summary>The page, or null when the LU has no such page.</summary>
    public static byte[]? Page(BlockLogicalUnit unit, ItNexus nexus, byte code) => code switch
    {
        SupportedPages => Wrap(code, Pages),
        UnitSerialNumber => Wrap(code, Encoding.ASCII.GetBytes(unit.Identity.SerialNumber)),
        DeviceIdentification => Wrap(code, Designators(unit, nexus)),
        ThirdPartyCopy => Wrap(code, ThirdPartyCopyDescriptors()),
        BlockLimits => Wrap(code, Limits(unit)),
        BlockDeviceCharacteristics => Wrap(code, Characteristics()),
        LogicalBlockProvisioning => Wrap(code, Provisioning(unit)),
        _ => null,
    };

    private static byte[] Wrap(byte code, ReadOnlySpan<byte> body)
    {
        var page = new byte[4 + body.Length];
        page[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(page.AsSpan(2), (ushort)body.Length);
        body.CopyTo(page.AsSpan(4));
        return page;
    }

    private static byte[] Designators(BlockLogicalUnit unit, ItNexus nexus)
    {
        // SPC-4 7.8.6: designators of the LU (NAA, T10 vendor ID), of the target port the command came through
        // (relative target port, target port group, SCSI name string) and of the target device.
        var list = new List<byte>();
        Add(list, 0x01, 0x03, unit.NaaDesignator);                                   // binary, LU, NAA
        var t10 = new byte[8 + unit.Identity.SerialNumber.Length];
        Inquiry.Ascii(LogicalUnitIdentity.Vendor, t10.AsSpan(0, 8));
        Encoding.ASCII.GetBytes(unit.Identity.SerialNumber, t10.AsSpan(8));
        Add(list, 0x02, 0x01, t10);                                                  // ASCII, LU, T10 vendor ID
        var rtpi = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(rtpi.AsSpan(2), ScsiTargetDevice.RelativeTargetPortOf(nexus));
        Add(list, 0x51, 0x94, rtpi);                                                 // iSCSI, PIV, port, relative target port
        var tpg = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(tpg.AsSpan(2), TargetPortGroups.GroupId);
        Add(list, 0x51, 0x95, tpg);                                                  // iSCSI, PIV, port, target port group
        Add(list, 0x53, 0x98, NameString(nexus.TargetPortName));                    // UTF-8, PIV, port, SCSI name
        Add(list, 0x53, 0xA8, NameString(nexus.TargetName));                        // UTF-8, PIV, device, SCSI name
        return [.. list];
    }

    private static byte[] NameString(string name)
    {
        // SPC-4 7.8.6.11: NUL-terminated, padded with NULs to a multiple of four bytes.
        int n = Encoding.UTF8.GetByteCount(name) + 1;
        var bytes = new byte[(n + 3) & ~3];
        Encoding.UTF8.GetBytes(name, bytes);
        return bytes;
    }

    private static void Add(List<byte> list, byte codeSet, byte typeAndAssociation, byte[] designator)
    {
        list.Add(codeSet);
        list.Add(typeAndAssociation);
        list.Add(0);
        list.Add((byte)designator.Length);
        list.AddRange(designator);
    }

    private static byte[] ThirdPartyCopyDescriptors()
    {
        // SPC-4 7.8.17: a Supported Commands descriptor (0001h) naming EXTENDED COPY (LID1) and RECEIVE COPY
        // RESULTS (COPY STATUS, OPERATING PARAMETERS).
        byte[] commands = [ScsiOpcode.ExtendedCopy, 1, 0x00, ScsiOpcode.ReceiveCopyResults, 2, 0x00, 0x03];
        int contentLength = 1 + commands.Length;
        int padded = (contentLength + 3) & ~3;
        var d = new byte[4 + padded];
        BinaryPrimitives.WriteUInt16BigEndian(d, 0x0001);
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), (ushort)padded);
        d[4] = (byte)commands.Length;
        commands.CopyTo(d.AsSpan(5));
        return d;
    }

    private static byte[] Limits(BlockLogicalUnit unit)
    {
        // SBC-3 6.5.3 plus the SBC-4 atomic fields: page length 3Ch.
        var l = unit.Limits;
        var d = new byte[0x3C];
        d[0] = 0x01; // WSNZ
        d[1] = (byte)l.MaxCompareAndWriteBlocks;
        BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(2), (ushort)l.OptimalGranularity);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(4), (uint)l.MaxTransferBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(8), (uint)((1 << 20) / unit.BlockSize));
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(12), (uint)l.MaxTransferBlocks);
        if (unit.Identity.ThinProvisioned)
        {
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(16), l.MaxUnmapBlocks);
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(20), l.MaxUnmapDescriptors);
            BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(24), (uint)l.OptimalGranularity);
            d[28] = 0x80; // UGAVALID, UNMAP GRANULARITY ALIGNMENT 0
        }

        BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(32), l.MaxWriteSameBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(40), (uint)l.MaxAtomicTransferBlocks);
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(44), 1);  // ATOMIC ALIGNMENT
        BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(48), 1);  // ATOMIC TRANSFER LENGTH GRANULARITY
        return d;
    }

    private static byte[] Characteristics()
    {
        // SBC-3 6.5.2: MEDIUM ROTATION RATE 1 (non-rotating); WABEREQ=WACEREQ=01b (reads after a sanitize
        // return GOOD with zeros); FUAB=1 and VBULS=1.
        var d = new byte[0x3C];
        d[1] = 0x01;
        d[3] = 0x50;        // byte 7: WABEREQ 01b, WACEREQ 01b
        d[4] = 0x02 | 0x01; // byte 8: FUAB, VBULS
        return d;
    }

    private static byte[] Provisioning(BlockLogicalUnit unit)
    {
        // SBC-3 6.5.4: thin LUs support UNMAP and WRITE SAME (10/16) with UNMAP, deallocated blocks read zero.
        var d = new byte[4];
        if (unit.Identity.ThinProvisioned)
        {
            d[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ
            d[2] = 0x02;                      // PROVISIONING TYPE: thin
        }

        return d;
    }
}
