using System.Buffers.Binary;
using Strata.Iscsi.Scsi.ModePages;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>MODE SENSE (6) and (10) (SPC-4 6.11, 6.12; SBC-3 6.4): header, an optional block descriptor (short,
/// or long with LLBAA), then the page asked for or all pages (3Fh).</summary>
internal static class ModeSense
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool ten = cdb[0] == ScsiOpcode.ModeSense10;
        bool disableBlockDescriptors = (cdb[1] & 0x08) != 0;
        bool longLba = ten && (cdb[1] & 0x10) != 0;
        var control = (PageControl)(cdb[2] >> 6);
        byte pageCode = (byte)(cdb[2] & 0x3F);
        byte subpage = cdb[3];
        int allocation = ten ? (int)BlockLogicalUnit.Field(cdb, 7, 2) : cdb[4];
        if (control == PageControl.Saved)
        {
            unit.Fail(task, SenseData.IllegalRequest(AdditionalSense.SavingParametersNotSupported));
            return default;
        }

        bool all = pageCode == ModeParameters.AllPages;
        if (!all && !ModeParameters.IsSupported(pageCode))
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(2, 5));
            return default;
        }

        // No subpages: 00h, or FFh (all subpages) with the all-pages code (SPC-4 6.11.1).
        if (subpage != 0 && !(subpage == 0xFF && all))
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(3));
            return default;
        }

        Span<byte> data = stackalloc byte[256];
        data.Clear();
        int header = ten ? 8 : 4;
        int descriptorLength = disableBlockDescriptors ? 0 : longLba ? 16 : 8;
        int at = header;
        if (descriptorLength > 0)
        {
            var d = data[at..];
            if (longLba)
            {
                BinaryPrimitives.WriteUInt64BigEndian(d, (ulong)unit.BlockCount);
                BinaryPrimitives.WriteUInt32BigEndian(d[12..], (uint)unit.BlockSize);
            }
            else
            {
                // SBC-3 6.4.4.2: a capacity over 32 bits reports FFFFFFFFh blocks.
                BinaryPrimitives.WriteUInt32BigEndian(d, unit.BlockCount > uint.MaxValue ? uint.MaxValue : (uint)unit.BlockCount);
                d[5] = (byte)(unit.BlockSize >> 16);
                d[6] = (byte)(unit.BlockSize >> 8);
                d[7] = (byte)unit.BlockSize;
            }

            at += descriptorLength;
        }

        if (all)
        {
            foreach (byte code in ModeParameters.Supported)
            {
                at += unit.Mode.Write(code, control, data[at..]);
            }
        }
        else
        {
            at += unit.Mode.Write(pageCode, control, data[at..]);
        }

        // DEVICE-SPECIFIC PARAMETER (SBC-3 6.4.4.1): WP reflects SWP; DPOFUA=1.
        byte deviceSpecific = (byte)(0x10 | (unit.Mode.SoftwareWriteProtect ? 0x80 : 0x00));
        if (ten)
        {
            BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)(at - 2));
            data[3] = deviceSpecific;
            data[4] = longLba ? (byte)0x01 : (byte)0x00;
            BinaryPrimitives.WriteUInt16BigEndian(data[6..], (ushort)descriptorLength);
        }
        else
        {
            data[0] = (byte)(at - 1);
            data[2] = deviceSpecific;
            data[3] = (byte)descriptorLength;
        }

        BlockLogicalUnit.Respond(task, data[..at], allocation);
        return default;
    }
}
