using System.Runtime.CompilerServices;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>READ (6), READ (10), READ (12), READ (16) (SBC-3 5.8-5.11). DPO and FUA are accepted: the device has
/// no read cache to bypass.</summary>
internal static class Read
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        BlockCdb.Decode(cdb, out ulong lba, out uint blocks);
        if (cdb[0] == ScsiOpcode.Read6 && blocks == 0)
        {
            blocks = 256; // SBC-3 5.8: a TRANSFER LENGTH of 0 means 256 blocks in READ (6)
        }

        if (!unit.CheckRange(task, lba, blocks))
        {
            return default;
        }

        if (blocks > unit.Limits.MaxTransferBlocks)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(BlockCdb.LengthOffset(cdb[0])));
            return default;
        }

        if (blocks == 0)
        {
            BlockLogicalUnit.Good(task, 0);
            return default;
        }

        int bytes = (int)blocks * unit.BlockSize;
        if (task.DataIn.Length >= bytes)
        {
            return BlockIoOperation.For(task).Start(unit, task, write: false, (long)lba, task.DataIn, bytes, default, bytes);
        }

        return ReadOverflowAsync(unit, task, (long)lba, (int)blocks);
    }

    /// <summary>The initiator expects less than the command reads (an overflow): read whole, send what fits.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask ReadOverflowAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int blocks)
    {
        int bytes = blocks * unit.BlockSize;
        ulong mask = LbaRangeLock.MaskOf(lba, blocks);
        byte[] bounce = task.Buffers.Rent(bytes);
        try
        {
            await unit.RangeLock.EnterSharedAsync(mask, task.Aborted).ConfigureAwait(false);
            try
            {
                await unit.Device.ReadAsync(lba, bounce.AsMemory(0, bytes), task.Aborted).ConfigureAwait(false);
            }
            finally
            {
                unit.RangeLock.ExitShared(mask);
            }

            bounce.AsSpan(0, task.DataIn.Length).CopyTo(task.DataIn.Span);
            BlockLogicalUnit.Good(task, bytes);
        }
        catch (Exception e) when (BlockLogicalUnit.IsHandled(e))
        {
            unit.Fail(task, e, writing: false);
        }
        finally
        {
            task.Buffers.Return(bounce);
        }
    }
}
