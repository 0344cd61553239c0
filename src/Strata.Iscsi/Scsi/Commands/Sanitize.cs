using System.Runtime.CompilerServices;
using Strata.Blocks;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// SANITIZE (SBC-3 5.19) as fits a thin volume: BLOCK ERASE and CRYPTOGRAPHIC ERASE deallocate every block (a
/// deallocated block of a thin volume has no data left to recover and reads as zeros); OVERWRITE writes the
/// initialization pattern over the whole LU; EXIT FAILURE MODE completes at once (a sanitize here never ends in
/// failure mode). While it runs, other media commands see NOT READY, SANITIZE IN PROGRESS; it is not stopped by
/// ABORT TASK or resets (SBC-3 5.19.1), so its device calls ignore the task's abort token.
/// </summary>
internal static class Sanitize
{
    private const int Overwrite = 0x01;
    private const int BlockErase = 0x02;
    private const int CryptographicErase = 0x03;
    private const int ExitFailureMode = 0x1F;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int serviceAction = cdb[1] & 0x1F;
        int listLength = (int)BlockLogicalUnit.Field(cdb, 7, 2);
        switch (serviceAction)
        {
            case Overwrite:
                return StartOverwrite(unit, task, listLength);
            case BlockErase:
            case CryptographicErase:
                if (listLength != 0)
                {
                    unit.Fail(task, SenseData.InvalidFieldInCdb(7));
                    return default;
                }

                if (!unit.Identity.ThinProvisioned)
                {
                    unit.Fail(task, SenseData.InvalidFieldInCdb(1, 4));
                    return default;
                }

                return EraseAsync(unit, task);
            case ExitFailureMode:
                if (listLength != 0)
                {
                    unit.Fail(task, SenseData.InvalidFieldInCdb(7));
                    return default;
                }

                BlockLogicalUnit.Good(task, 0);
                return default;
            default:
                unit.Fail(task, SenseData.InvalidFieldInCdb(1, 4));
                return default;
        }
    }

    private static ValueTask StartOverwrite(BlockLogicalUnit unit, ScsiTask task, int listLength)
    {
        // SBC-3 5.19.3: the parameter list is a 4-byte header and a pattern of 1..block size bytes.
        if (listLength <= 4 || listLength > unit.BlockSize + 4)
        {
            unit.Fail(task, SenseData.InvalidFieldInCdb(7));
            return default;
        }

        var data = task.DataOut.Span;
        if (data.Length < listLength)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        int count = data[0] & 0x1F;
        int test = (data[0] >> 5) & 0x03;
        int patternLength = (data[2] << 8) | data[3];
        if (test != 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(0, 6));
            return default;
        }

        if (count == 0)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(0, 4));
            return default;
        }

        if (patternLength == 0 || patternLength > unit.BlockSize || patternLength + 4 != listLength)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(2));
            return default;
        }

        bool invert = (data[0] & 0x80) != 0;
        return OverwriteAsync(unit, task, task.DataOut.Slice(4, patternLength), invert, count, listLength);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask EraseAsync(BlockLogicalUnit unit, ScsiTask task)
    {
        unit.Sanitizing = true;
        try
        {
            await Unmap.DeallocateAsync(unit, task, 0, unit.BlockCount, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            unit.Sanitizing = false;
        }

        BlockLogicalUnit.Good(task, 0);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask OverwriteAsync(BlockLogicalUnit unit, ScsiTask task, ReadOnlyMemory<byte> pattern, bool invert, int passes, int transferred)
    {
        const int ChunkBytes = 1 << 20;
        int bs = unit.BlockSize;
        int chunkBlocks = (int)Math.Min(unit.BlockCount, ChunkBytes / bs);
        byte[] buffer = task.Buffers.Rent(chunkBlocks * bs);
        unit.Sanitizing = true;
        try
        {
            for (int pass = 0; pass < passes; pass++)
            {
                // SBC-3 5.19.3: with INVERT the pattern is inverted between passes.
                var span = buffer.AsSpan(0, chunkBlocks * bs);
                for (int at = 0; at < span.Length; at++)
                {
                    byte b = pattern.Span[at % bs % pattern.Length];
                    span[at] = invert && (pass & 1) == 1 ? (byte)~b : b;
                }

                for (long done = 0; done < unit.BlockCount; done += chunkBlocks)
                {
                    int n = (int)Math.Min(chunkBlocks, unit.BlockCount - done);
                    await unit.Device.WriteAsync(done, buffer.AsMemory(0, n * bs), WriteFlags.None, CancellationToken.None).ConfigureAwait(false);
                }
            }

            await unit.Device.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            unit.Sanitizing = false;
            task.Buffers.Return(buffer);
        }

        BlockLogicalUnit.Good(task, transferred);
    }
}
