using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Strata.Blocks;

/// <summary>
/// An <see cref="IBlockDevice"/> that counts what goes through it to the device it wraps: operations, bytes and the
/// time they took, since it was made (what `strata volume stats` shows of a served volume). Lock-free and
/// allocation-free per request: an operation the inner device completes at once is counted inline, one that pends is
/// awaited in a pooled async method. It forwards <see cref="IAllocationMap"/> when the inner device has one (make it
/// with <see cref="Over"/>), so the iSCSI target's GET LBA STATUS still answers from it.
/// </summary>
/// <remarks>Disposing it disposes the inner device.</remarks>
public class MeasuredBlockDevice : IBlockDevice
{
    private const int Reads = 0, Writes = 1, Flushes = 2, Unmaps = 3;

    private readonly OpCounter[] _ops = new OpCounter[4];
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _errors;

    private protected MeasuredBlockDevice(IBlockDevice inner) => Inner = inner;

    /// <summary>Wraps <paramref name="inner"/>, implementing <see cref="IAllocationMap"/> exactly when it does.</summary>
    public static MeasuredBlockDevice Over(IBlockDevice inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return inner is IAllocationMap map ? new Mapped(inner, map) : new MeasuredBlockDevice(inner);
    }

    public IBlockDevice Inner { get; }

    public int BlockSize => Inner.BlockSize;

    public long BlockCount => Inner.BlockCount;

    /// <summary>The counters now. Each is read atomically; together they are as of about now, not one instant.</summary>
    public BlockIoCounters Counters => new(
        Stopwatch.GetElapsedTime(_started),
        Totals(Reads), Totals(Writes), Totals(Flushes), Totals(Unmaps),
        Interlocked.Read(ref _errors));

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        long started = Stopwatch.GetTimestamp();
        return Measure(Inner.ReadAsync(lba, buffer, ct), Reads, buffer.Length, started);
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        long started = Stopwatch.GetTimestamp();
        return Measure(Inner.WriteAsync(lba, data, flags, ct), Writes, data.Length, started);
    }

    public ValueTask FlushAsync(CancellationToken ct = default)
    {
        long started = Stopwatch.GetTimestamp();
        return Measure(Inner.FlushAsync(ct), Flushes, 0, started);
    }

    /// <summary>Counts the bytes deallocated as the unmap's bytes.</summary>
    public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        long started = Stopwatch.GetTimestamp();
        return Measure(Inner.UnmapAsync(lba, blockCount, ct), Unmaps, blockCount * BlockSize, started);
    }

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return Inner.DisposeAsync();
    }

    /// <summary>
    /// A call that throws before it returns a task counts as nothing here: the exception goes to the caller as it
    /// would without this wrapper, and such a call did no I/O.
    /// </summary>
    private ValueTask Measure(ValueTask pending, int op, long bytes, long started)
    {
        if (pending.IsCompletedSuccessfully)
        {
            pending.GetAwaiter().GetResult(); // returns a pooled source to its pool
            Count(op, bytes, started);
            return default;
        }

        return CompleteAsync(pending, op, bytes, started);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask CompleteAsync(ValueTask pending, int op, long bytes, long started)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch
        {
            Interlocked.Increment(ref _errors);
            throw;
        }

        Count(op, bytes, started);
    }

    private void Count(int op, long bytes, long started)
    {
        long ticks = Stopwatch.GetTimestamp() - started;
        ref var c = ref _ops[op];
        Interlocked.Increment(ref c.Count);
        Interlocked.Add(ref c.Bytes, bytes);
        Interlocked.Add(ref c.Ticks, ticks);
    }

    private IoTotals Totals(int op)
    {
        ref var c = ref _ops[op];
        return new IoTotals(Interlocked.Read(ref c.Count), Interlocked.Read(ref c.Bytes), Stopwatch.GetElapsedTime(0, Interlocked.Read(ref c.Ticks)));
    }

    private struct OpCounter
    {
        public long Count;
        public long Bytes;
        public long Ticks;
    }

    private sealed class Mapped(IBlockDevice inner, IAllocationMap map) : MeasuredBlockDevice(inner), IAllocationMap
    {
        public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default) =>
            map.GetExtentAsync(lba, maxBlocks, ct);
    }
}

/// <summary>What a <see cref="MeasuredBlockDevice"/> counted since it was made, <see cref="Elapsed"/> ago (a monotonic clock).</summary>
/// <param name="Errors">Operations that failed or were cancelled; they count nowhere else.</param>
public readonly record struct BlockIoCounters(TimeSpan Elapsed, IoTotals Reads, IoTotals Writes, IoTotals Flushes, IoTotals Unmaps, long Errors);

/// <summary>Completed operations of one kind: how many, their bytes, and the time they took added up.</summary>
public readonly record struct IoTotals(long Count, long Bytes, TimeSpan Time);
