using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// WRITE (6/10/12/16) (SBC-3 5.32-5.35) and WRITE AND VERIFY (10/12/16) (SBC-3 5.36-5.38). FUA becomes
/// <see cref="WriteFlags.Fua"/>; DPO is accepted. WRITE AND VERIFY writes through (FUA): what it verifies is
/// the medium, and the device reports a failed write as an error already.
/// </summary>
internal static class Write
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        BlockCdb.Decode(cdb, out ulong lba, out uint blocks);
        var flags = BlockCdb.WriteFlagsOf(unit, cdb);
        if (cdb[0] == ScsiOpcode.Write6 && blocks == 0)
        {
            blocks = 256;
        }
        else if (cdb[0] is ScsiOpcode.WriteAndVerify10 or ScsiOpcode.WriteAndVerify12 or ScsiOpcode.WriteAndVerify16)
        {
            // SBC-3 5.36: BYTCHK 0 or 1; 10b and 11b are reserved for WRITE AND VERIFY.
            if ((cdb[1] & 0x04) != 0)
            {
                unit.Fail(task, SenseData.InvalidFieldInCdb(1, 2));
                return default;
            }

            flags = WriteFlags.Fua;
        }

        return Execute(unit, task, lba, blocks, flags, BlockCdb.LengthOffset(cdb[0]));
    }

    /// <summary>Writes <paramref name="blocks"/> blocks of the task's data-out at <paramref name="lba"/>.</summary>
    internal static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task, ulong lba, uint blocks, WriteFlags flags, int lengthOffset)
    {
        if (!unit.CheckRange(task, lba, blocks))
        {
            return default;
        }

        if (blocks > unit.Limits.MaxTransferBlocks)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(lengthOffset));
            return default;
        }

        if (blocks == 0)
        {
            BlockLogicalUnit.Good(task, 0);
            return default;
        }

        int bytes = (int)blocks * unit.BlockSize;
        int written = bytes;
        if (task.DataOut.Length < bytes)
        {
            // The initiator sent less than the CDB asks for (Expected Data Transfer Length below it): write only
            // the whole blocks that came, and report the rest as a residual overflow (RFC 7143 11.4.5.1; what
            // libiscsi's iSCSIResiduals tests and Linux LIO expect).
            written = task.DataOut.Length / unit.BlockSize * unit.BlockSize;
            if (written == 0)
            {
                BlockLogicalUnit.Good(task, bytes);
                return default;
            }

            blocks = (uint)(written / unit.BlockSize);
        }

        ulong mask = LbaRangeLock.MaskOf((long)lba, blocks);
        if (unit.RangeLock.TryEnterShared(mask))
        {
            // The common case, without an async method.
            ValueTask write;
            try
            {
                write = unit.Device.WriteAsync((long)lba, task.DataOut[..written], flags, task.Aborted);
            }
            catch (Exception e)
            {
                write = ValueTask.FromException(e); // the completion releases the range either way
            }

            return task.DeviceCompletion.Await(write, unit, task, writing: true, mask, bytes);
        }

        return WriteAsync(unit, task, (long)lba, task.DataOut[..written], flags, bytes);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal static async ValueTask WriteAsync(BlockLogicalUnit unit, ScsiTask task, long lba, ReadOnlyMemory<byte> data, WriteFlags flags, int transferLength)
    {
        ulong mask = LbaRangeLock.MaskOf(lba, data.Length / unit.BlockSize);
        await unit.RangeLock.EnterSharedAsync(mask, task.Aborted).ConfigureAwait(false);
        try
        {
            await unit.Device.WriteAsync(lba, data, flags, task.Aborted).ConfigureAwait(false);
        }
        finally
        {
            unit.RangeLock.ExitShared(mask);
        }

        BlockLogicalUnit.Good(task, transferLength);
    }
}
