using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// COMPARE AND WRITE (SBC-3 5.2): compares the first half of the data-out with the medium and, when equal, writes
/// the second half, as one atomic operation: the range is held exclusively (<see cref="LbaRangeLock"/>), so no
/// other read or write of an overlapping LBA runs in between.
/// </summary>
internal static class CompareAndWrite
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        ulong lba = BlockLogicalUnit.Field(cdb, 2, 8);
        int blocks = cdb[13];
        if (!unit.CheckRange(task, lba, (ulong)blocks))
        {
            return default;
        }

        if (blocks > unit.Limits.MaxCompareAndWriteBlocks)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(13));
            return default;
        }

        int half = blocks * unit.BlockSize;
        if (task.DataOut.Length != 2 * half)
        {
            // The data-out must hold exactly the verify and the write instance (SBC-3 5.2).
            unit.Fail(task, SenseData.InvalidFieldInCdb(13));
            return default;
        }

        if (blocks == 0)
        {
            BlockLogicalUnit.Good(task, 0);
            return default;
        }

        var flags = (cdb[1] & 0x08) != 0 || !unit.Mode.WriteCacheEnabled ? WriteFlags.Fua : WriteFlags.None;
        return CompareAndWriteAsync(unit, task, (long)lba, blocks, flags);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask CompareAndWriteAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int blocks, WriteFlags flags)
    {
        int half = blocks * unit.BlockSize;
        byte[] medium = task.Buffers.Rent(half);
        ulong mask = LbaRangeLock.MaskOf(lba, blocks);
        await unit.RangeLock.EnterExclusiveAsync(mask, task.Aborted).ConfigureAwait(false);
        try
        {
            await unit.Device.ReadAsync(lba, medium.AsMemory(0, half), task.Aborted).ConfigureAwait(false);
            var verify = task.DataOut.Span[..half];
            int same = medium.AsSpan(0, half).CommonPrefixLength(verify);
            if (same < half)
            {
                // SBC-3 5.2: INFORMATION is the offset of the first byte that did not match.
                unit.Fail(task, SenseData.WithInformation(SenseKey.Miscompare, AdditionalSense.MiscompareDuringVerify, same));
                return;
            }

            await unit.Device.WriteAsync(lba, task.DataOut.Slice(half, half), flags, task.Aborted).ConfigureAwait(false);
        }
        finally
        {
            unit.RangeLock.ExitExclusive(mask);
            task.Buffers.Return(medium);
        }

        BlockLogicalUnit.Good(task, 2 * half);
    }
}
