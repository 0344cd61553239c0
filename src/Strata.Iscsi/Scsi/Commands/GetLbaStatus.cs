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

    /// <remarks>The descriptors are written straight into the task's data-in buffer (what does not fit is
    /// dropped, as <see cref="BlockLogicalUnit.Respond"/> would): qemu's iSCSI driver sends a GET LBA STATUS before
    /// every read of a thin LU when it does not cache, so this is a hot path and must not allocate.</remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask RespondAsync(BlockLogicalUnit unit, ScsiTask task, long lba, int allocation)
    {
        int wanted = Math.Clamp((allocation - 8) / 16, 1, MaxDescriptors);
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

            WriteDescriptor(task, count, at, blocks, mapped);
            count++;
            at += blocks;
        }

        int length = 8 + (16 * count);
        WriteHeader(task, length);
        BlockLogicalUnit.Good(task, Math.Min(length, allocation));
    }

    private static void WriteDescriptor(ScsiTask task, int index, long lba, long blocks, bool mapped)
    {
        Span<byte> d = stackalloc byte[16];
        d.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(d, (ulong)lba);
        BinaryPrimitives.WriteUInt32BigEndian(d[8..], (uint)blocks);
        d[12] = mapped ? (byte)0 : (byte)1; // PROVISIONING STATUS: mapped, deallocated
        CopyToDataIn(task, 8 + (16 * index), d);
    }

    private static void WriteHeader(ScsiTask task, int length)
    {
        Span<byte> h = stackalloc byte[8];
        h.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(h, (uint)(length - 4)); // PARAMETER DATA LENGTH
        CopyToDataIn(task, 0, h);
    }

    private static void CopyToDataIn(ScsiTask task, int offset, ReadOnlySpan<byte> bytes)
    {
        var dataIn = task.DataIn.Span;
        if (offset < dataIn.Length)
        {
            bytes[..Math.Min(bytes.Length, dataIn.Length - offset)].CopyTo(dataIn[offset..]);
        }
    }
}
