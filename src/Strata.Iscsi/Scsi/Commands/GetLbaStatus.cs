using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Strata.Iscsi.Scsi.Sense;

namespace Strata.Iscsi.Scsi.Commands;

/// <summary>
/// GET LBA STATUS (SBC-3 5.6): LBA status descriptors from the starting LBA on. Mapped/deallocated come from
/// the LU's <see cref="IAllocationMap"/>; without one everything is mapped.
/// </summary>
internal static class GetLbaStatus
{
    private const int MaxDescriptors = 64;

    public static ValueTask Execute(BlockLogicalUnit unit, ScsiTask task)
    {
        var cdb = task.Cdb.Span;
        ulong lba = BlockLogicalUnit.Field(cdb, 2, 8);
        int allocation = (int)Math.Min(BlockLogicalUnit.Field(cdb, 10, 4), int.MaxValue);
        if (lba >= (ulong)unit.BlockCount)
        {
            unit.Fail(task, SenseData.LbaOutOfRange);
            return default;
        }

        if (allocation == 0)
        {
            BlockLogicalUnit.Good(task, 0);
            return default;
        }

        return RespondAsync(unit, task, (long)lba, allocation);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask RespondAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int allocation)
    {
        int wanted = Math.Clamp((allocation - 8) / 16, 1, MaxDescriptors);
        var data = new byte[8 + (16 * wanted)];
        int count = 0;
        long at = lba;
        while (count < wanted && at < unit.BlockCount)
        {
            long remaining = unit.BlockCount - at;
            long max = Math.Min(remaining, uint.MaxValue);
            bool mapped = true;
            long blocks = max;
            if (unit.AllocationMap is { } map)
            {
                (mapped, blocks) = await map.GetExtentAsync(at, max, task.Aborted).ConfigureAwait(false);
                blocks = Math.Clamp(blocks, 1, max);
            }

            var d = data.AsSpan(8 + (16 * count));
            BinaryPrimitives.WriteUInt64BigEndian(d, (ulong)at);
            BinaryPrimitives.WriteUInt32BigEndian(d[8..], (uint)blocks);
            d[12] = mapped ? (byte)0 : (byte)1; // PROVISIONING STATUS: mapped, deallocated
            count++;
            at += blocks;
        }

        int length = 8 + (16 * count);
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(length - 4));
        BlockLogicalUnit.Respond(task, data.AsSpan(0, length), allocation);
    }
}
