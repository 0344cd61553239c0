using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// WRITE ATOMIC (16) (SBC-4 5.48): at most MAXIMUM ATOMIC TRANSFER LENGTH blocks (one physical block), written
/// by one device call while the range is held exclusively, so no other command sees part of it. ATOMIC
/// BOUNDARY is not supported (MAXIMUM ATOMIC BOUNDARY SIZE 0) and must be zero.
/// </summary>
internal static class WriteAtomic
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        ulong lba = BlockLogicalUnit.Field(cdb, 2, 8);
        uint blocks = (uint)BlockLogicalUnit.Field(cdb, 12, 2);
        if (BlockLogicalUnit.Field(cdb, 10, 2) != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(10));
            return default;
        }

        if (!unit.AcceptsWholeWrite(task, lba, blocks, unit.Limits.MaxAtomicTransferBlocks, lengthField: 12))
        {
            return default;
        }

        var flags = (cdb[1] & 0x08) != 0 || !unit.Mode.WriteCacheEnabled ? WriteFlags.Fua : WriteFlags.None;
        return WriteAsync(unit, task, (long)lba, (int)blocks, flags);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WriteAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int blocks, WriteFlags flags)
    {
        int bytes = blocks * unit.BlockSize;
        ulong mask = LbaRangeLock.MaskOf(lba, blocks);
        await unit.RangeLock.EnterExclusiveAsync(mask, task.Aborted).ConfigureAwait(false);
        try
        {
            await unit.Device.WriteAsync(lba, task.DataOut[..bytes], flags, task.Aborted).ConfigureAwait(false);
        }
        finally
        {
            unit.RangeLock.ExitExclusive(mask);
        }

        BlockLogicalUnit.Good(task, bytes);
    }
}
