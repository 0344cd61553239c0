using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// WRITE SAME (10) and (16) (SBC-3 5.41, 5.42). With UNMAP set on a thin LU, a block of zeros (or NDOB, no
/// data-out) deallocates the range, which then reads as zeros (LBPRZ); other data is written. ANCHOR is refused
/// (ANC_SUP=0); a NUMBER OF LOGICAL BLOCKS of 0 is refused too (WSNZ=1).
/// </summary>
internal static class WriteSame
{
    private const int ChunkBytes = 1 << 20;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        bool sixteen = cdb[0] == ScsiOpcode.WriteSame16;
        ulong lba = sixteen ? BlockLogicalUnit.Field(cdb, 2, 8) : BlockLogicalUnit.Field(cdb, 2, 4);
        ulong blocks = sixteen ? BlockLogicalUnit.Field(cdb, 10, 4) : BlockLogicalUnit.Field(cdb, 7, 2);
        int lengthOffset = sixteen ? 10 : 7;
        bool unmap = (cdb[1] & 0x08) != 0;
        bool noDataOut = sixteen && (cdb[1] & 0x01) != 0;
        if (!noDataOut && task.DataOut.Length != unit.BlockSize)
        {
            // SBC-3 5.42: the data-out is exactly one logical block.
            unit.Fail(task, SenseData.InvalidFieldInCdb(lengthOffset));
            return default;
        }

        if (!unit.CheckRange(task, lba, blocks))
        {
            return default;
        }

        if (blocks == 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(lengthOffset)); // WSNZ=1
            return default;
        }

        if (blocks > unit.Limits.MaxWriteSameBlocks)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(lengthOffset));
            return default;
        }

        if (unmap && !unit.Identity.ThinProvisioned)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(1, 3));
            return default;
        }

        bool zeros = noDataOut || !task.DataOut.Span.ContainsAnyExcept((byte)0);
        var flags = BlockCdb.WriteFlagsOf(unit, cdb);
        int transferred = noDataOut ? 0 : unit.BlockSize;
        if (unmap && zeros)
        {
            return UnmapAsync(unit, task, (long)lba, (long)blocks, transferred);
        }

        return WriteAsync(unit, task, (long)lba, (long)blocks, flags, zeros, transferred);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask UnmapAsync(BlockLogicalUnit unit, ScsiTask task, long lba, long blocks, int transferred)
    {
        await Unmap.DeallocateAsync(unit, task, lba, blocks).ConfigureAwait(false);
        BlockLogicalUnit.Good(task, transferred);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WriteAsync(BlockLogicalUnit unit, ScsiTask task, long lba, long blocks, WriteFlags flags, bool zeros, int transferred)
    {
        int bs = unit.BlockSize;
        int chunkBlocks = (int)Math.Min(blocks, ChunkBytes / bs);
        byte[] pattern = task.Buffers.Rent(chunkBlocks * bs);
        try
        {
            var span = pattern.AsSpan(0, chunkBlocks * bs);
            if (zeros)
            {
                span.Clear();
            }
            else
            {
                var block = task.DataOut.Span[..bs];
                for (int at = 0; at < span.Length; at += bs)
                {
                    block.CopyTo(span[at..]);
                }
            }

            for (long done = 0; done < blocks; done += chunkBlocks)
            {
                int n = (int)Math.Min(chunkBlocks, blocks - done);
                ulong mask = LbaRangeLock.MaskOf(lba + done, n);
                await unit.RangeLock.EnterSharedAsync(mask, task.Aborted).ConfigureAwait(false);
                try
                {
                    await unit.Device.WriteAsync(lba + done, pattern.AsMemory(0, n * bs), flags, task.Aborted).ConfigureAwait(false);
                }
                finally
                {
                    unit.RangeLock.ExitShared(mask);
                }
            }
        }
        finally
        {
            task.Buffers.Return(pattern);
        }

        BlockLogicalUnit.Good(task, transferred);
    }
}
