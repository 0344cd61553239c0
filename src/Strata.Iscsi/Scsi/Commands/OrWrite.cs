using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>ORWRITE (16) (SBC-3 5.12): ORs the data-out into the blocks, atomically like COMPARE AND WRITE.</summary>
internal static class OrWrite
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        BlockCdb.Decode(cdb, out ulong lba, out uint blocks);
        if (!unit.AcceptsWholeWrite(task, lba, blocks, unit.Limits.MaxTransferBlocks, lengthField: 10))
        {
            return default;
        }

        return OrWriteAsync(unit, task, (long)lba, (int)blocks, BlockCdb.WriteFlagsOf(unit, cdb));
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask OrWriteAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int blocks, WriteFlags flags)
    {
        int bytes = blocks * unit.BlockSize;
        byte[] medium = task.Buffers.Rent(bytes);
        ulong mask = LbaRangeLock.MaskOf(lba, blocks);
        await unit.RangeLock.EnterExclusiveAsync(mask, task.Aborted).ConfigureAwait(false);
        try
        {
            await unit.Device.ReadAsync(lba, medium.AsMemory(0, bytes), task.Aborted).ConfigureAwait(false);
            Or(medium.AsSpan(0, bytes), task.DataOut.Span[..bytes]);
            await unit.Device.WriteAsync(lba, medium.AsMemory(0, bytes), flags, task.Aborted).ConfigureAwait(false);
        }
        finally
        {
            unit.RangeLock.ExitExclusive(mask);
            task.Buffers.Return(medium);
        }

        BlockLogicalUnit.Good(task, bytes);
    }

    private static void Or(Span<byte> target, ReadOnlySpan<byte> source)
    {
        // Block sizes are multiples of 8: OR a word at a time.
        var t = MemoryMarshal.Cast<byte, ulong>(target);
        var s = MemoryMarshal.Cast<byte, ulong>(source);
        for (int i = 0; i < t.Length; i++)
        {
            t[i] |= s[i];
        }
    }
}
