using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Strata.Replication.Server;

/// <summary>
/// A replica's write-intent bitmap for one volume (as Linux md's): one bit per region, set and made durable before a
/// change (Write, Unmap) is applied to a region whose bit is clear, cleared when the target says a flush that came
/// after every change to the region completed on every replica (<see cref="Settle"/>). A target that takes the volume
/// over reads the set regions (GetIntent): outside them the replicas hold the same data.
/// </summary>
/// <remarks>
/// <para>The file: a 4 KiB header page (magic "STRI", version, region bytes, regions, CRC32C), then the bitmap, one
/// bit per region, LSB first in little-endian 64-bit words. Setting writes the 4 KiB bitmap pages that changed and
/// fsyncs once for every setter that came meanwhile (a burst costs one fsync); clearing is written lazily, with the
/// next batch (a stale set bit only costs copying a region). A missing file is made empty (temporary file, fsync,
/// rename, directory fsync); one that cannot be read, or was made for another geometry, counts as every region set.</para>
/// <para>Safety of clearing. Every change counts itself in flight in its regions and stamps them with the flush
/// generation current at its start and at its end (<see cref="Begin"/>, <see cref="End"/>); a Flush takes a new
/// generation S when it is received (<see cref="FlushStarting"/>), so a region stamped below S with nothing in flight
/// had every change complete before that flush was received, and that flush made them durable. Settle(S) clears only
/// such regions, and only once the session saw that flush complete. The bit is cleared first and the region checked
/// again after (both sides use interlocked operations): a change racing with Settle either is seen in flight, and the
/// bit is restored, or sees the bit clear and sets it durably again before it is applied.</para>
/// </remarks>
internal sealed class WriteIntentLog : IAsyncDisposable
{
    /// <summary>1 MiB: a bitmap of 128 KiB per TiB, rewritten a 4 KiB page at a time; a settled-too-late region costs
    /// one rebuild chunk (1 MiB) of copying; random 4 KiB writes set a new bit (an fsync) at most once per MiB per
    /// settle interval (2 s), where md's default of 64 MiB and more would copy far more after a takeover.</summary>
    public const int DefaultRegionBytes = 1 << 20;

    /// <summary>Regions set ahead of a sequential writer, with the bit it needs (see <see cref="PersistAsync"/>).</summary>
    public const int DefaultSetAhead = 7;

    /// <summary>Regions set ahead of a sequential writer; 0: only those a change touches.</summary>
    public int SetAhead { get; set; } = DefaultSetAhead;

    private const uint Magic = 0x49525453; // "STRI"
    private const uint FormatVersion = 1;
    private const int HeaderBytes = 4096;
    private const int PageBytes = 4096;
    private const int PageWords = PageBytes / sizeof(long);

    private readonly Lock _gate = new();
    private readonly string? _path;
    private readonly FileStream? _file;
    private readonly int _regionBlocks;

    /// <summary>The bitmap as the file holds it or is about to (under <see cref="_gate"/>).</summary>
    private readonly long[] _bits;

    /// <summary>Bits known to be on disk: a change whose regions all have one goes ahead without waiting.</summary>
    private readonly long[] _durable;

    private readonly int[] _inFlight;

    /// <summary>The highest flush generation current at a start or end of a change in the region.</summary>
    private readonly int[] _touched;

    private readonly bool[] _dirtyPages;
    private int _dirtyCount;
    private TaskCompletionSource? _nextCommit;
    private Task _writer = Task.CompletedTask;
    private bool _writing;
    private int _flushGeneration = 1;
    private long _commits;

    private WriteIntentLog(string? path, FileStream? file, int blockSize, long blockCount, int regionBytes, long[] bits)
    {
        _path = path;
        _file = file;
        BlockSize = blockSize;
        BlockCount = blockCount;
        _regionBlocks = Math.Max(1, regionBytes / blockSize);
        RegionBytes = _regionBlocks * blockSize;
        Regions = (blockCount + _regionBlocks - 1) / _regionBlocks;
        _bits = bits;
        _durable = (long[])bits.Clone();
        _inFlight = new int[Regions];
        _touched = new int[Regions];
        _dirtyPages = new bool[Math.Max(1, (bits.Length + PageWords - 1) / PageWords)];
        Recovered = Array.Exists(bits, w => w != 0);
    }

    public int RegionBytes { get; }

    public int BlockSize { get; }

    public long BlockCount { get; }

    public long Regions { get; }

    /// <summary>Whether regions were set when the log was opened: the replica stopped (or crashed) with changes unsettled.</summary>
    public bool Recovered { get; }

    /// <summary>fsyncs of the bitmap so far.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Awaited by the writer before it takes a batch (tests hold it to gather setters).</summary>
    internal Func<Task>? BeforeBatch { get; set; }

    /// <summary>
    /// Opens the log at <paramref name="path"/> (made when missing), or one kept in memory only when it is null (a
    /// server without a data directory: nothing survives its restart).
    /// </summary>
    public static WriteIntentLog Open(string? path, int blockSize, long blockCount, int regionBytes = DefaultRegionBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(blockCount);
        int regionBlocks = Math.Max(1, regionBytes / blockSize);
        long regions = (blockCount + regionBlocks - 1) / regionBlocks;
        var bits = new long[(regions + 63) / 64];
        if (path is null)
        {
            return new WriteIntentLog(null, null, blockSize, blockCount, regionBytes, bits);
        }

        if (!File.Exists(path) || !TryLoad(path, regionBlocks * blockSize, regions, bits))
        {
            if (File.Exists(path))
            {
                // Unreadable, or of another geometry: nothing says where the replicas agree.
                SetAll(bits, regions);
            }

            Create(path, regionBlocks * blockSize, regions, bits);
        }

        var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        return new WriteIntentLog(path, file, blockSize, blockCount, regionBytes, bits);
    }

    /// <summary>Whether the log was made for a device of this geometry.</summary>
    public bool Fits(int blockSize, long blockCount) => blockSize == BlockSize && blockCount == BlockCount;

    /// <summary>
    /// Counts a change of [<paramref name="lba"/>, +<paramref name="blocks"/>) in flight; completes once the bits of
    /// its regions are durable (at once when they are already, the common case). <see cref="End"/> must follow, also
    /// when this fails.
    /// </summary>
    public ValueTask Begin(long lba, long blocks)
    {
        if (blocks <= 0)
        {
            return ValueTask.CompletedTask;
        }

        long first = lba / _regionBlocks;
        long last = (lba + blocks - 1) / _regionBlocks;
        int generation = Volatile.Read(ref _flushGeneration);
        bool durable = true;
        for (long r = first; r <= last; r++)
        {
            // In flight before the bit is looked at: Settle clears a bit, then looks at the count.
            Interlocked.Increment(ref _inFlight[r]);
            RaiseTo(ref _touched[r], generation);
            durable = durable && IsDurable(r);
        }

        return durable ? ValueTask.CompletedTask : PersistAsync(first, last);
    }

    /// <summary>The change counted by <see cref="Begin"/> finished (applied or failed).</summary>
    public void End(long lba, long blocks)
    {
        if (blocks <= 0)
        {
            return;
        }

        long first = lba / _regionBlocks;
        long last = (lba + blocks - 1) / _regionBlocks;
        int generation = Volatile.Read(ref _flushGeneration);
        for (long r = first; r <= last; r++)
        {
            RaiseTo(ref _touched[r], generation);
            Interlocked.Decrement(ref _inFlight[r]);
        }
    }

    /// <summary>A Flush was received: its generation, which the session keeps once the flush completed.</summary>
    public int FlushStarting() => Interlocked.Increment(ref _flushGeneration);

    /// <summary>
    /// Clears the regions with no change in flight and none since the flush of generation <paramref name="flushed"/>
    /// was received (which completed: every change before it is durable); the file is updated lazily. Returns how many.
    /// </summary>
    public long Settle(int flushed)
    {
        if (flushed <= 1)
        {
            return 0; // no flush completed on the session
        }

        long cleared = 0;
        lock (_gate)
        {
            for (int w = 0; w < _bits.Length; w++)
            {
                for (long set = _bits[w]; set != 0; set &= set - 1)
                {
                    long bit = set & -set;
                    long r = ((long)w * 64) + BitOperations.TrailingZeroCount(set);
                    if (Busy(r, flushed))
                    {
                        continue;
                    }

                    long was = Interlocked.And(ref _durable[w], ~bit);
                    if (Busy(r, flushed))
                    {
                        // A change started meanwhile and may have seen the bit: it stays set.
                        if ((was & bit) != 0)
                        {
                            Interlocked.Or(ref _durable[w], bit);
                        }

                        continue;
                    }

                    _bits[w] &= ~bit;
                    MarkDirty(w);
                    cleared++;
                }
            }

            if (cleared > 0)
            {
                StartWriter();
            }
        }

        return cleared;
    }

    /// <summary>Whether region <paramref name="region"/> is set (durably or about to be).</summary>
    public bool IsSet(long region)
    {
        lock (_gate)
        {
            return (_bits[region >> 6] & (1L << (int)(region & 63))) != 0;
        }
    }

    /// <summary>Writes the bits of regions [<paramref name="first"/>, +<paramref name="count"/>) LSB first into
    /// <paramref name="destination"/> (count / 8 bytes, rounded up).</summary>
    public void CopyTo(long first, long count, Span<byte> destination)
    {
        int bytes = (int)((count + 7) / 8);
        destination[..bytes].Clear();
        lock (_gate)
        {
            for (long i = 0; i < count; i++)
            {
                long r = first + i;
                if ((_bits[r >> 6] & (1L << (int)(r & 63))) != 0)
                {
                    destination[(int)(i >> 3)] |= (byte)(1 << (int)(i & 7));
                }
            }
        }
    }

    /// <summary>The set regions, as a target reads them.</summary>
    public WriteIntent ToIntent()
    {
        var set = new Volume.SparseBitmap(Regions);
        lock (_gate)
        {
            for (int w = 0; w < _bits.Length; w++)
            {
                for (long bits = _bits[w]; bits != 0; bits &= bits - 1)
                {
                    set.Set(((long)w * 64) + BitOperations.TrailingZeroCount(bits), 1);
                }
            }
        }

        return new WriteIntent(RegionBytes, Regions, Recovered, set);
    }

    /// <summary>Completes when the writer is idle: every set bit and lazy clear so far is on disk.</summary>
    public async Task IdleAsync()
    {
        while (true)
        {
            Task writer;
            lock (_gate)
            {
                if (!_writing)
                {
                    return;
                }

                writer = _writer;
            }

            await writer.ConfigureAwait(false);
        }
    }

    /// <summary>Waits for a batch being written and closes the file; clears not yet written are left (as after a crash).</summary>
    public async ValueTask DisposeAsync()
    {
        Task writer;
        lock (_gate)
        {
            writer = _writer;
        }

        await writer.ConfigureAwait(false);
        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }
    }

    private bool Busy(long region, int flushed) =>
        Volatile.Read(ref _inFlight[region]) != 0 || Volatile.Read(ref _touched[region]) >= flushed;

    private bool IsDurable(long region) => (Volatile.Read(ref _durable[region >> 6]) & (1L << (int)(region & 63))) != 0;

    private static void RaiseTo(ref int location, int value)
    {
        int seen = Volatile.Read(ref location);
        while (seen < value)
        {
            int was = Interlocked.CompareExchange(ref location, value, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    private async ValueTask PersistAsync(long first, long last)
    {
        Task commit;
        lock (_gate)
        {
            // A sequential stream (the region before is set too) gets the next regions set with the same fsync: one
            // fsync per SetAhead + 1 regions instead of one per region. A region set and never written is cleared at the
            // next settle; until then it costs a copy of it after a takeover.
            if (SetAhead > 0 && first > 0 && (_bits[(first - 1) >> 6] & (1L << (int)((first - 1) & 63))) != 0)
            {
                last = Math.Min(last + SetAhead, Regions - 1);
            }

            for (long r = first; r <= last; r++)
            {
                int w = (int)(r >> 6);
                long bit = 1L << (int)(r & 63);
                if ((_bits[w] & bit) == 0)
                {
                    _bits[w] |= bit;
                    MarkDirty(w);
                }
            }

            if (_file is null)
            {
                // Kept in memory only: set is as durable as it gets.
                for (long r = first; r <= last; r++)
                {
                    Interlocked.Or(ref _durable[r >> 6], 1L << (int)(r & 63));
                }

                return;
            }

            _nextCommit ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            commit = _nextCommit.Task;
            StartWriter();
        }

        await commit.ConfigureAwait(false);
    }

    private void MarkDirty(int word)
    {
        int page = word / PageWords;
        if (!_dirtyPages[page])
        {
            _dirtyPages[page] = true;
            _dirtyCount++;
        }
    }

    /// <summary>Under <see cref="_gate"/>.</summary>
    private void StartWriter()
    {
        if (_file is null)
        {
            _dirtyCount = 0;
            Array.Clear(_dirtyPages);
            return;
        }

        if (!_writing)
        {
            _writing = true;
            _writer = Task.Run(WriteLoopAsync);
        }
    }

    /// <summary>Writes batches until nothing is dirty: each one the pages changed since the last, then one fsync.</summary>
    private async Task WriteLoopAsync()
    {
        while (true)
        {
            if (BeforeBatch is { } hold)
            {
                await hold().ConfigureAwait(false);
            }

            TaskCompletionSource? commit;
            List<(int Page, long[] Words)> pages = [];
            lock (_gate)
            {
                commit = _nextCommit;
                _nextCommit = null;
                if (_dirtyCount == 0)
                {
                    // The waiters' bits went out with the batch before.
                    _writing = false;
                    commit?.TrySetResult();
                    return;
                }

                for (int p = 0; p < _dirtyPages.Length; p++)
                {
                    if (_dirtyPages[p])
                    {
                        _dirtyPages[p] = false;
                        int from = p * PageWords;
                        pages.Add((p, _bits.AsSpan(from, Math.Min(PageWords, _bits.Length - from)).ToArray()));
                    }
                }

                _dirtyCount = 0;
            }

            try
            {
                foreach (var (page, words) in pages)
                {
                    RandomAccess.Write(_file!.SafeFileHandle, MemoryMarshal.AsBytes(words.AsSpan()), HeaderBytes + ((long)page * PageBytes));
                }

                _file!.Flush(flushToDisk: true);
                Interlocked.Increment(ref _commits);
                lock (_gate)
                {
                    foreach (var (page, words) in pages)
                    {
                        for (int i = 0; i < words.Length; i++)
                        {
                            int w = (page * PageWords) + i;

                            // Only what is still wanted: a bit cleared since the snapshot stays clear.
                            long now = words[i] & _bits[w];
                            if (now != 0)
                            {
                                Interlocked.Or(ref _durable[w], now);
                            }
                        }
                    }
                }

                commit?.TrySetResult();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                lock (_gate)
                {
                    foreach (var (page, _) in pages)
                    {
                        if (!_dirtyPages[page])
                        {
                            _dirtyPages[page] = true;
                            _dirtyCount++;
                        }
                    }

                    // Stop here; the next setter starts the writer again.
                    _writing = false;
                    _nextCommit?.TrySetException(e);
                    _nextCommit = null;
                }

                commit?.TrySetException(new IOException($"the write-intent bitmap {_path} cannot be written: {e.Message}", e));
                return;
            }
        }
    }

    private static bool TryLoad(string path, int regionBytes, long regions, long[] bits)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            Span<byte> header = stackalloc byte[32];
            if (file.Length < HeaderBytes + ((long)bits.Length * sizeof(long)) || file.Read(header) != header.Length)
            {
                return false;
            }

            if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic
                || BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != FormatVersion
                || BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) != (uint)regionBytes
                || BinaryPrimitives.ReadInt64LittleEndian(header[16..]) != regions
                || BinaryPrimitives.ReadUInt32LittleEndian(header[24..]) != Crc32C.Compute(header[..24]))
            {
                return false;
            }

            file.Position = HeaderBytes;
            file.ReadExactly(MemoryMarshal.AsBytes(bits.AsSpan()));
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void SetAll(long[] bits, long regions)
    {
        Array.Fill(bits, -1L);
        if (regions % 64 != 0 && bits.Length > 0)
        {
            bits[^1] = (1L << (int)(regions % 64)) - 1;
        }
    }

    private static void Create(string path, int regionBytes, long regions, long[] bits)
    {
        var header = new byte[HeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)regionBytes);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), regions);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), Crc32C.Compute(header.AsSpan(0, 24)));
        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(header);
                file.Write(MemoryMarshal.AsBytes(bits.AsSpan()));
                file.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }

        VolumeFiles.SyncDirectory(Path.GetDirectoryName(path)!);
    }
}
