using System.Runtime.CompilerServices;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>SYNCHRONIZE CACHE (10) and (16) (SBC-3 5.22, 5.23): the whole device is flushed, whatever the range
/// (a superset of what was asked); the range is still checked against the capacity.</summary>
internal static class SynchronizeCache
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool sixteen = cdb[0] == ScsiOpcode.SynchronizeCache16;
        ulong lba = sixteen ? BlockLogicalUnit.Field(cdb, 2, 8) : BlockLogicalUnit.Field(cdb, 2, 4);
        ulong blocks = sixteen ? BlockLogicalUnit.Field(cdb, 10, 4) : BlockLogicalUnit.Field(cdb, 7, 2);
        if (!unit.CheckRange(task, lba, blocks))
        {
            return default;
        }

        return FlushAsync(unit, task);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask FlushAsync(BlockLogicalUnit unit, ScsiTask task)
    {
        await unit.Device.FlushAsync(task.Aborted).ConfigureAwait(false);
        BlockLogicalUnit.Good(task, 0);
    }
}
