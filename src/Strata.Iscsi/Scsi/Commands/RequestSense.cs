using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>REQUEST SENSE (SPC-4 6.39): reports (and clears) the oldest unit attention of the nexus as sense data,
/// else NO SENSE; DESC selects the descriptor format.</summary>
internal static class RequestSense
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool descriptor = (cdb[1] & 0x01) != 0;
        int allocation = cdb[4];
        var sense = unit.UnitAttentions.For(task.Nexus).TryTake(out var attention)
            ? SenseData.Of(SenseKey.UnitAttention, attention)
            : unit.Sanitizing
                ? SenseData.Of(SenseKey.NotReady, AdditionalSense.LogicalUnitNotReadySanitizeInProgress)
                : SenseData.Of(SenseKey.NoSense, AdditionalSense.NoAdditionalSense);
        Span<byte> data = stackalloc byte[32];
        int n = sense.WriteTo(data, descriptor);
        BlockLogicalUnit.Respond(task, data[..n], allocation);
        return default;
    }
}
