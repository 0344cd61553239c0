using System.Diagnostics;
using Strata.Blocks;

namespace Strata.Bench.PoolVsFile;

/// <summary>One workload: I/O size, how many I/Os stay in flight, reads or writes, and a final flush.</summary>
internal sealed record Workload(int IoBytes, int Depth, bool Write, bool FlushAtEnd);

/// <summary>What one device did during one timed window (the warm-up is not in it).</summary>
/// <param name="Seconds">From the end of the warm-up until the last I/O completed and, for writes, the final flush did.</param>
/// <param name="FlushSeconds">The final flush's share of <paramref name="Seconds"/>.</param>
/// <param name="SpaceUsedUp">The workload ran out of fresh space before its time was up.</param>
/// <param name="Threads">Thread-pool threads at the end (the file I/O runs on them, one blocking call each).</param>
internal sealed record Measurement(long Ops, long Bytes, double Seconds, double FlushSeconds, MachineLoad Load, bool SpaceUsedUp, int Threads)
{
    public double Iops => Ops / Seconds;

    public double MiBps => Bytes / Seconds / (1 << 20);
}

/// <summary>Where the next I/O goes, as a byte offset; false when the workload's space is used up.</summary>
internal abstract class OffsetSource
{
    public abstract bool TryNext(int worker, out long offset);
}

/// <summary>Uniformly random I/O-aligned offsets in a region; one generator per worker, seeded by its index.</summary>
internal sealed class RandomOffsets : OffsetSource
{
    private readonly long _start;
    private readonly long _slots;
    private readonly int _ioBytes;
    private readonly Random[] _random;

    public RandomOffsets(long start, long bytes, int ioBytes, int workers, int seed)
    {
        _start = start;
        _slots = bytes / ioBytes;
        _ioBytes = ioBytes;
        _random = Enumerable.Range(0, workers).Select(w => new Random(seed * 1000 + w)).ToArray();
    }

    public override bool TryNext(int worker, out long offset)
    {
        offset = _start + _random[worker].NextInt64(_slots) * _ioBytes;
        return true;
    }
}

/// <summary>
/// Each chunk-sized slot of a region once, in a random order (the same order for every device built with the
/// same seed); the I/O lands at an I/O-aligned position inside its slot. On a pool whose chunks are the slot
/// size, every I/O is the first write to its chunk. The cursor lives on across runs, so no slot is used twice.
/// </summary>
internal sealed class FreshSlotOffsets : OffsetSource
{
    private readonly long _start;
    private readonly long _slotBytes;
    private readonly int _ioBytes;
    private readonly int[] _order;
    private long _next = -1;

    public FreshSlotOffsets(long start, int slots, long slotBytes, int ioBytes, int seed)
    {
        _start = start;
        _slotBytes = slotBytes;
        _ioBytes = ioBytes;
        _order = new int[slots];
        for (int i = 0; i < slots; i++)
        {
            _order[i] = i;
        }

        new Random(seed).Shuffle(_order);
    }

    public long Used => Math.Min(Volatile.Read(ref _next) + 1, _order.Length);

    public int Slots => _order.Length;

    public override bool TryNext(int worker, out long offset)
    {
        long i = Interlocked.Increment(ref _next);
        if (i >= _order.Length)
        {
            offset = 0;
            return false;
        }

        long slot = _order[i];
        // A fixed pseudo-random position inside the slot (a hash of the slot number).
        ulong h = (ulong)(slot + 1) * 0x9E3779B97F4A7C15UL;
        long within = (long)((h >> 33) % (ulong)(_slotBytes / _ioBytes)) * _ioBytes;
        offset = _start + slot * _slotBytes + within;
        return true;
    }
}

/// <summary>Ascending I/O-sized offsets from a start until an end; concurrent workers take the next one each.</summary>
internal sealed class SequentialOffsets : OffsetSource
{
    private readonly long _end;
    private readonly int _ioBytes;
    private long _next;

    public SequentialOffsets(long start, long end, int ioBytes)
    {
        _next = start;
        _end = end;
        _ioBytes = ioBytes;
    }

    /// <summary>The first offset not handed out.</summary>
    public long Position => Math.Min(Volatile.Read(ref _next), _end);

    public override bool TryNext(int worker, out long offset)
    {
        offset = Interlocked.Add(ref _next, _ioBytes) - _ioBytes;
        return offset + _ioBytes <= _end;
    }
}

/// <summary>
/// The closed-loop driver: <see cref="Workload.Depth"/> tasks, each looping pick an offset, await the device's
/// read or write, count it. The same code drives every <see cref="IBlockDevice"/>.
/// </summary>
internal static class Driver
{
    // Each worker counts in its own cache line.
    private const int Stride = 16;

    /// <summary>Runs the workload for <paramref name="warmup"/>, then counts for <paramref name="duration"/>
    /// (or until the offsets run out), waits for the I/O in flight, and flushes if the workload says so.</summary>
    public static async Task<Measurement> MeasureAsync(IBlockDevice device, Workload w, OffsetSource offsets, TimeSpan warmup, TimeSpan duration, CancellationToken ct)
    {
        var run = new Run(device, w, offsets);
        try
        {
            await Task.WhenAny(run.All, Task.Delay(warmup, ct));
            ct.ThrowIfCancellationRequested();
            if (run.All.IsCompleted)
            {
                await run.All; // a worker's failure surfaces here
                throw new InvalidOperationException("the workload ran out of fresh space during its warm-up; give it more (see --help)");
            }

            long ops0 = run.Completed;
            var load0 = MachineSample.Take();
            var clock = Stopwatch.StartNew();
            await Task.WhenAny(run.All, Task.Delay(duration, ct));
            bool usedUp = run.All.IsCompleted;
            run.Stop();
            await run.All;
            ct.ThrowIfCancellationRequested();
            long ops = run.Completed - ops0;
            double beforeFlush = clock.Elapsed.TotalSeconds;
            if (w.FlushAtEnd)
            {
                await device.FlushAsync(ct);
            }

            double seconds = clock.Elapsed.TotalSeconds;
            var load = MachineLoad.Between(load0, MachineSample.Take());
            return new Measurement(ops, ops * w.IoBytes, seconds, seconds - beforeFlush, load, usedUp, ThreadPool.ThreadCount);
        }
        finally
        {
            await run.DisposeAsync();
        }
    }

    /// <summary>Writes [<paramref name="start"/>, <paramref name="end"/>) once, reporting progress now and then; returns the seconds it took (no flush).</summary>
    public static async Task<double> FillAsync(IBlockDevice device, long start, long end, int ioBytes, int depth, Action<long, double>? progress, CancellationToken ct)
    {
        var offsets = new SequentialOffsets(start, end, ioBytes);
        var clock = Stopwatch.StartNew();
        var run = new Run(device, new Workload(ioBytes, depth, Write: true, FlushAtEnd: false), offsets);
        try
        {
            while (!run.All.IsCompleted)
            {
                await Task.WhenAny(run.All, Task.Delay(TimeSpan.FromSeconds(5), ct));
                ct.ThrowIfCancellationRequested();
                if (!run.All.IsCompleted)
                {
                    progress?.Invoke(offsets.Position - start, clock.Elapsed.TotalSeconds);
                }
            }

            await run.All;
            return clock.Elapsed.TotalSeconds;
        }
        finally
        {
            await run.DisposeAsync();
        }
    }

    /// <summary>The workers of one run and their buffers (pinned, from the shared pool, filled with random bytes).</summary>
    private sealed class Run : IAsyncDisposable
    {
        private readonly long[] _counts;
        private readonly byte[][] _buffers;
        private volatile bool _stop;

        public Run(IBlockDevice device, Workload w, OffsetSource offsets)
        {
            _counts = new long[w.Depth * Stride];
            _buffers = new byte[w.Depth][];
            var workers = new Task[w.Depth];
            for (int i = 0; i < w.Depth; i++)
            {
                _buffers[i] = PinnedBufferPool.Shared.Rent(w.IoBytes);
                Random.Shared.NextBytes(_buffers[i]);
                int worker = i;
                workers[i] = Task.Run(() => WorkAsync(device, w, offsets, worker, _buffers[worker].AsMemory(0, w.IoBytes)));
            }

            All = Task.WhenAll(workers);
        }

        public Task All { get; }

        public long Completed
        {
            get
            {
                long sum = 0;
                for (int i = 0; i < _counts.Length; i += Stride)
                {
                    sum += Volatile.Read(ref _counts[i]);
                }

                return sum;
            }
        }

        public void Stop() => _stop = true;

        public async ValueTask DisposeAsync()
        {
            _stop = true;
            await All.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var b in _buffers)
            {
                PinnedBufferPool.Shared.Return(b);
            }
        }

        private async Task WorkAsync(IBlockDevice device, Workload w, OffsetSource offsets, int worker, Memory<byte> buffer)
        {
            int blockSize = device.BlockSize;
            int slot = worker * Stride;
            while (!_stop && offsets.TryNext(worker, out long offset))
            {
                if (w.Write)
                {
                    await device.WriteAsync(offset / blockSize, buffer, WriteFlags.None);
                }
                else
                {
                    await device.ReadAsync(offset / blockSize, buffer);
                }

                Volatile.Write(ref _counts[slot], _counts[slot] + 1);
            }
        }
    }
}
