using System.Buffers.Binary;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>REPORT SUPPORTED OPERATION CODES (SPC-4 6.35): every reporting option, with command timeouts
/// descriptors on RCTD; the CDB usage data is the same table the LU checks reserved bits against.</summary>
internal static class ReportSupportedOperationCodes
{
    private const int TimeoutDescriptorLength = 12;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool timeouts = (cdb[2] & 0x80) != 0;
        int options = cdb[2] & 0x07;
        byte opcode = cdb[3];
        int serviceAction = (int)BlockLogicalUnit.Field(cdb, 4, 2);
        int allocation = (int)Math.Min(BlockLogicalUnit.Field(cdb, 6, 4), int.MaxValue);
        byte[] data;
        switch (options)
        {
            case 0:
                data = All(timeouts);
                break;
            case 1:
                // One opcode without service actions; an opcode that has them is an invalid request.
                if (CommandSet.HasServiceActions(opcode))
                {
                    unit.Fail(task, SenseData.InvalidFieldInCdb(2, 2));
                    return default;
                }

                data = One(CommandSet.Find(opcode, -1), timeouts);
                break;
            case 2:
                if (!CommandSet.HasServiceActions(opcode))
                {
                    unit.Fail(task, SenseData.InvalidFieldInCdb(2, 2));
                    return default;
                }

                data = One(CommandSet.Find(opcode, serviceAction), timeouts);
                break;
            case 3:
                data = One(CommandSet.Find(opcode, CommandSet.HasServiceActions(opcode) ? serviceAction : -1), timeouts);
                break;
            default:
                unit.Fail(task, SenseData.InvalidFieldInCdb(2, 2));
                return default;
        }

        BlockLogicalUnit.Respond(task, data, allocation);
        return default;
    }

    private static byte[] All(bool timeouts)
    {
        int each = 8 + (timeouts ? TimeoutDescriptorLength : 0);
        var commands = CommandSet.All;
        var data = new byte[4 + (each * commands.Count)];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(data.Length - 4));
        for (int i = 0; i < commands.Count; i++)
        {
            var c = commands[i];
            var d = data.AsSpan(4 + (each * i));
            d[0] = c.Opcode;
            if (c.HasServiceAction)
            {
                BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)c.ServiceAction);
                d[5] = 0x01; // SERVACTV
            }

            if (timeouts)
            {
                d[5] |= 0x02; // CTDP
                WriteTimeouts(d[8..]);
            }

            BinaryPrimitives.WriteUInt16BigEndian(d[6..], (ushort)c.CdbLength);
        }

        return data;
    }

    private static byte[] One(CommandDescriptor? command, bool timeouts)
    {
        if (command is null)
        {
            return [0, 0x01, 0, 0]; // SUPPORT 001b: not supported
        }

        var data = new byte[4 + command.CdbLength + (timeouts ? TimeoutDescriptorLength : 0)];
        data[1] = (byte)(0x03 | (timeouts ? 0x80 : 0)); // CTDP, SUPPORT 011b: supported per the standard
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(2), (ushort)command.CdbLength);
        command.CdbUsage.CopyTo(data.AsSpan(4));
        if (command.HasServiceAction)
        {
            data[5] = (byte)((data[5] & 0xE0) | command.ServiceAction);
        }

        if (timeouts)
        {
            WriteTimeouts(data.AsSpan(4 + command.CdbLength));
        }

        return data;
    }

    private static void WriteTimeouts(Span<byte> d)
    {
        // SPC-4 6.35.4: DESCRIPTOR LENGTH 0Ah; nominal and recommended timeouts in seconds (0: not specified).
        d[..TimeoutDescriptorLength].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(d, 0x0A);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], 30);
    }
}
