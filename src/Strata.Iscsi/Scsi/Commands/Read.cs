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
        ulong mask = LbaRangeLock.MaskOf((long)lba, blocks);
        if (task.DataIn.Length >= bytes && unit.RangeLock.TryEnterShared(mask))
        {
            // The common case, without an async method: read straight into the task's buffer.
            ValueTask read;
            try
            {
                read = unit.Device.ReadAsync((long)lba, task.DataIn[..bytes], task.Aborted);
            }
            catch (Exception e)
            {
                read = ValueTask.FromException(e); // the completion releases the range either way
            }

            return task.DeviceCompletion.Await(read, unit, task, writing: false, mask, bytes);
        }

        return ReadAsync(unit, task, (long)lba, (int)blocks);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask ReadAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int blocks)
    {
        int bytes = blocks * unit.BlockSize;
        ulong mask = LbaRangeLock.MaskOf(lba, blocks);
        await unit.RangeLock.EnterSharedAsync(mask, task.Aborted).ConfigureAwait(false);
        try
        {
            if (task.DataIn.Length >= bytes)
            {
                await unit.Device.ReadAsync(lba, task.DataIn[..bytes], task.Aborted).ConfigureAwait(false);
            }
            else
            {
                // The initiator expects less than the command reads (an overflow): read whole, send what fits.
                byte[] bounce = task.Buffers.Rent(bytes);
                try
                {
                    await unit.Device.ReadAsync(lba, bounce.AsMemory(0, bytes), task.Aborted).ConfigureAwait(false);
                    bounce.AsSpan(0, task.DataIn.Length).CopyTo(task.DataIn.Span);
                }
                finally
                {
                    task.Buffers.Return(bounce);
                }
            }
        }
        finally
        {
            unit.RangeLock.ExitShared(mask);
        }

        BlockLogicalUnit.Good(task, bytes);
    }
}
