using System.Runtime.CompilerServices;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// VERIFY (10/12/16) (SBC-3 5.29-5.31): BYTCHK 00b reads the blocks (the medium is readable), 01b compares them
/// with the data-out, 11b compares each with the single block of data-out (SBC-4 5.33); a difference is
/// MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION with the byte offset in INFORMATION.
/// </summary>
internal static class Verify
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        BlockCdb.Decode(cdb, out ulong lba, out uint blocks);
        int byteCheck = (cdb[1] >> 1) & 0x03;
        if (byteCheck == 2)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(1, 2));
            return default;
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

        int expected = byteCheck switch
        {
            1 => (int)blocks * unit.BlockSize,
            3 => unit.BlockSize,
            _ => 0,
        };
        if (task.DataOut.Length < expected)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(BlockCdb.LengthOffset(cdb[0])));
            return default;
        }

        return VerifyAsync(unit, task, (long)lba, (int)blocks, byteCheck, expected);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask VerifyAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int blocks, int byteCheck, int transferred)
    {
        int bs = unit.BlockSize;
        int chunkBlocks = Math.Max(1, Math.Min(blocks, (1 << 20) / bs));
        byte[] buffer = task.Buffers.Rent(chunkBlocks * bs);
        ulong mask = LbaRangeLock.MaskOf(lba, blocks);
        await unit.RangeLock.EnterSharedAsync(mask, task.Aborted).ConfigureAwait(false);
        try
        {
            for (int done = 0; done < blocks; done += chunkBlocks)
            {
                int n = Math.Min(chunkBlocks, blocks - done);
                var medium = buffer.AsMemory(0, n * bs);
                await unit.Device.ReadAsync(lba + done, medium, task.Aborted).ConfigureAwait(false);
                if (byteCheck == 0)
                {
                    continue;
                }

                int mismatch = FirstMismatch(medium.Span, task.DataOut.Span, byteCheck, done * bs, bs);
                if (mismatch >= 0)
                {
                    unit.Fail(task, SenseData.WithInformation(SenseKey.Miscompare, AdditionalSense.MiscompareDuringVerify, mismatch));
                    return;
                }
            }
        }
        finally
        {
            unit.RangeLock.ExitShared(mask);
            task.Buffers.Return(buffer);
        }

        BlockLogicalUnit.Good(task, transferred);
    }

    private static int FirstMismatch(ReadOnlySpan<byte> medium, ReadOnlySpan<byte> dataOut, int byteCheck, int offset, int bs)
    {
        if (byteCheck == 1)
        {
            var expected = dataOut.Slice(offset, medium.Length);
            int i = medium.CommonPrefixLength(expected);
            return i < medium.Length ? offset + i : -1;
        }

        // 11b: every block compares with the one block sent; the offset names the byte within that block.
        var block = dataOut[..bs];
        for (int at = 0; at < medium.Length; at += bs)
        {
            int i = medium.Slice(at, bs).CommonPrefixLength(block);
            if (i < bs)
            {
                return i;
            }
        }

        return -1;
    }
}
