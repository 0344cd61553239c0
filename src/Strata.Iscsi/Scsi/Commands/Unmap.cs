using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>UNMAP (SBC-3 5.28): deallocates the ranges of the block descriptors; validates the whole parameter list
/// before deallocating anything.</summary>
internal static class Unmap
{
    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        int listLength = (int)BlockLogicalUnit.Field(cdb, 7, 2);
        if (listLength == 0)
        {
            BlockLogicalUnit.Good(task, 0); // SBC-3 5.28: not an error
            return default;
        }

        var data = task.DataOut.Span;
        if (listLength < 8 || data.Length < 8)
        {
            unit.Fail(task, SenseData.ParameterListLengthError);
            return default;
        }

        data = data[..Math.Min(listLength, data.Length)];
        int descriptorBytes = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        // SBC-3 5.28.2: descriptors beyond the parameter list are not there; truncate to what arrived.
        descriptorBytes = Math.Min(descriptorBytes, data.Length - 8) & ~15;
        int count = descriptorBytes / 16;
        if (count > unit.Limits.MaxUnmapDescriptors)
        {
            unit.Fail(task, SenseData.InvalidFieldInParameterList(2));
            return default;
        }

        for (int i = 0; i < count; i++)
        {
            var d = data.Slice(8 + (16 * i), 16);
            ulong lba = BinaryPrimitives.ReadUInt64BigEndian(d);
            uint blocks = BinaryPrimitives.ReadUInt32BigEndian(d[8..]);
            if (!unit.CheckRange(task, lba, blocks))
            {
                return default;
            }

            if (blocks > unit.Limits.MaxUnmapBlocks)
            {
                unit.Fail(task, SenseData.InvalidFieldInParameterList(8 + (16 * i) + 8));
                return default;
            }
        }

        return UnmapAsync(unit, task, count, listLength);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask UnmapAsync(BlockLogicalUnit unit, ScsiTask task, int count, int transferred)
    {
        for (int i = 0; i < count; i++)
        {
            var d = task.DataOut.Slice(8 + (16 * i), 16);
            long lba = (long)BinaryPrimitives.ReadUInt64BigEndian(d.Span);
            long blocks = BinaryPrimitives.ReadUInt32BigEndian(d.Span[8..]);
            await DeallocateAsync(unit, task, lba, blocks).ConfigureAwait(false);
        }

        BlockLogicalUnit.Good(task, transferred);
    }

    /// <summary>Deallocates a range under the range lock, in chunks so a huge range does not block other I/O long.</summary>
    internal static ValueTask DeallocateAsync(BlockLogicalUnit unit, ScsiTask task, long lba, long blocks) =>
        DeallocateAsync(unit, task, lba, blocks, task.Aborted);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal static async ValueTask DeallocateAsync(BlockLogicalUnit unit, ScsiTask task, long lba, long blocks, CancellationToken ct)
    {
        const long Chunk = 1L << 21;
        for (long done = 0; done < blocks; done += Chunk)
        {
            long n = Math.Min(Chunk, blocks - done);
            ulong mask = LbaRangeLock.MaskOf(lba + done, n);
            await unit.RangeLock.EnterSharedAsync(mask, ct).ConfigureAwait(false);
            try
            {
                await unit.Device.UnmapAsync(lba + done, n, ct).ConfigureAwait(false);
            }
            finally
            {
                unit.RangeLock.ExitShared(mask);
            }
        }
    }
}
