using System.Buffers.Binary;
using System.Text;
using Strata.Iscsi.Scsi.Sense;
using Strata.Iscsi.Scsi.Vpd;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>INQUIRY (SPC-4 6.6): standard data, or a VPD page when EVPD is set.</summary>
internal static class Inquiry
{
    private const int StandardLength = 74;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool evpd = (cdb[1] & 0x01) != 0;
        byte pageCode = cdb[2];
        int allocation = (int)BlockLogicalUnit.Field(cdb, 3, 2);
        if (!evpd)
        {
            if (pageCode != 0)
            {
                unit.Fail(task, SenseData.InvalidFieldInCdb(2)); // SPC-4 6.6.1: PAGE CODE needs EVPD
                return default;
            }

            Span<byte> data = stackalloc byte[StandardLength];
            WriteStandard(unit, data);
            BlockLogicalUnit.Respond(task, data, allocation);
            return default;
        }

        byte[]? page = VitalProductData.Page(unit, task.Nexus, pageCode);
        if (page is null)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(2));
            return default;
        }

        BlockLogicalUnit.Respond(task, page, allocation);
        return default;
    }

    private static void WriteStandard(BlockLogicalUnit unit, Span<byte> d)
    {
        // SPC-4 6.6.2, table 140.
        d.Clear();
        d[0] = 0x00;            // PERIPHERAL QUALIFIER 000b, DIRECT ACCESS BLOCK DEVICE
        d[1] = 0x00;            // RMB=0: not removable
        d[2] = 0x06;            // VERSION: SPC-4
        d[3] = 0x12;            // HISUP=1, RESPONSE DATA FORMAT 2
        d[4] = StandardLength - 5;
        d[5] = 0x18;            // TPGS=01b (implicit ALUA, REPORT TARGET PORT GROUPS), 3PC (EXTENDED COPY)
        d[6] = 0x00;
        d[7] = 0x02;            // CMDQUE
        Ascii(LogicalUnitIdentity.Vendor, d.Slice(8, 8));
        Ascii(unit.Identity.ProductId, d.Slice(16, 16));
        Ascii(unit.Identity.Revision, d.Slice(32, 4));
        // Version descriptors (SPC-4 table 144): SAM-5, iSCSI, SPC-4, SBC-3.
        BinaryPrimitives.WriteUInt16BigEndian(d[58..], 0x00A0);
        BinaryPrimitives.WriteUInt16BigEndian(d[60..], 0x0960);
        BinaryPrimitives.WriteUInt16BigEndian(d[62..], 0x0460);
        BinaryPrimitives.WriteUInt16BigEndian(d[64..], 0x04C0);
    }

    /// <summary>Left-aligned ASCII, space padded (SPC-4 4.4.1); characters outside 20h-7Eh become '_'.</summary>
    internal static void Ascii(string text, Span<byte> field)
    {
        field.Fill((byte)' ');
        int n = Math.Min(text.Length, field.Length);
        for (int i = 0; i < n; i++)
        {
            char c = text[i];
            field[i] = c is >= ' ' and <= '~' ? (byte)c : (byte)'_';
        }
    }

    internal static byte[] AsciiBytes(string text) => Encoding.ASCII.GetBytes(text);
}
