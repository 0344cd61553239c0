using System.Buffers.Binary;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>REPORT TARGET PORT GROUPS (SPC-4 6.36): one group, active/optimized, holding the target port the
/// command came through. A Strata target serves a volume through one target port per node; failover between
/// targets is the initiator's multipath business.</summary>
internal static class TargetPortGroups
{
    public const ushort GroupId = 1;
    public const byte ServiceAction = 0x0A;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int allocation = (int)Math.Min(BlockLogicalUnit.Field(cdb, 6, 4), int.MaxValue);
        bool extended = ((cdb[1] >> 5) & 0x07) == 0x01;
        Span<byte> data = stackalloc byte[20];
        data.Clear();
        int at = 4;
        if (extended)
        {
            data[4] = 0x10; // FORMAT TYPE 001b, no implicit transition time
            at = 8;
        }

        data[at] = 0x80;       // PREF=1, ASYMMETRIC ACCESS STATE 0h: active/optimized
        data[at + 1] = 0x01;   // AO_SUP
        BinaryPrimitives.WriteUInt16BigEndian(data[(at + 2)..], GroupId);
        data[at + 7] = 1;      // TARGET PORT COUNT
        BinaryPrimitives.WriteUInt16BigEndian(data[(at + 10)..], ScsiTargetDevice.RelativeTargetPortOf(task.Nexus));
        int length = at + 12;
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(length - 4));
        BlockLogicalUnit.Respond(task, data[..length], allocation);
        _ = unit;
        return default;
    }
}
