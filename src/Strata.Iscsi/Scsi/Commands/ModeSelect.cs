using Strata.Iscsi.Scsi.ModePages;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// MODE SELECT (6) and (10) (SPC-4 6.9, 6.10): validates the whole parameter list against what is changeable
/// before changing anything; a change makes every other I_T nexus see MODE PARAMETERS CHANGED (SPC-4 5.14).
/// </summary>
internal static class ModeSelect
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool ten = cdb[0] == ScsiOpcode.ModeSelect10;
        int listLength = ten ? (int)BlockLogicalUnit.Field(cdb, 7, 2) : cdb[4];
        if ((cdb[1] & 0x01) != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(1, 0)); // SP: no saved pages
            return default;
        }

        if (listLength == 0)
        {
            BlockLogicalUnit.Good(task, 0);
            return default;
        }

        int header = ten ? 8 : 4;
        var data = task.DataOut.Span;
        if (listLength < header || data.Length < listLength)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        data = data[..listLength];
        int descriptorLength = ten ? (data[6] << 8) | data[7] : data[3];
        int at = header;
        if (descriptorLength != 0)
        {
            int expected = ten && (data[4] & 0x01) != 0 ? 16 : 8;
            if (descriptorLength != expected || header + descriptorLength > data.Length)
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(ten ? 6 : 3));
                return default;
            }

            // The block length cannot change (SBC-3 6.4.4).
            var d = data.Slice(header, descriptorLength);
            long blockLength = expected == 16 ? (long)BlockLogicalUnit.Field(d, 12, 4) : (long)BlockLogicalUnit.Field(d, 5, 3);
            if (blockLength != 0 && blockLength != unit.BlockSize)
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(header + (expected == 16 ? 12 : 5)));
                return default;
            }

            at += descriptorLength;
        }

        // First pass: validate every page.
        for (int p = at; p < data.Length;)
        {
            if (p + 2 > data.Length)
            {
                unit.Fail(task, SenseData.ParameterListLengthError);
                return default;
            }

            byte code = (byte)(data[p] & 0x3F);
            if ((data[p] & 0x40) != 0 || !ModeParameters.IsSupported(code))
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(p, 5));
                return default;
            }

            int length = ModeParameters.LengthOf(code);
            if (data[p + 1] != length - 2)
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(p + 1));
                return default;
            }

            if (p + length > data.Length)
            {
                unit.Fail(task, SenseData.ParameterListLengthError);
                return default;
            }

            p += length;
        }

        // Second pass: apply. TryApply refuses a change to an unchangeable bit before changing anything of that page.
        bool changed = false;
        for (int p = at; p < data.Length;)
        {
            byte code = (byte)(data[p] & 0x3F);
            int length = ModeParameters.LengthOf(code);
            int bad = unit.Mode.TryApply(data.Slice(p, length), out bool pageChanged);
            if (bad >= 0)
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(p + bad));
                return default;
            }

            changed |= pageChanged;
            p += length;
        }

        if (changed)
        {
            unit.UnitAttentions.EstablishForOthers(task.Nexus, AdditionalSense.ModeParametersChanged);
        }

        BlockLogicalUnit.Good(task, listLength);
        return default;
    }
}
