using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>What a write run does when a write or flush fails.</summary>
public enum OnWriteError
{
    /// <summary>Send no new writes; the run ends when those in flight have their answers.</summary>
    Stop,
    /// <summary>Count the error and go on (a fault the target should ride through without the initiator noticing
    /// still gets every later write checked).</summary>
    KeepGoing,
}

/// <summary>A run of random 4 KiB writes: <see cref="Writes"/> of them, or for <see cref="Duration"/>.</summary>
public sealed record WriteLoad
{
    public long? Writes { get; init; }
    public TimeSpan? Duration { get; init; }
    /// <summary>Writes in flight at once (the queue depth).</summary>
    public int Depth { get; init; } = 16;
    /// <summary>A quarter of the writes cover 2 to this many adjacent blocks; 1 means single blocks only.</summary>
    public int MaxBlocksPerWrite { get; init; } = 4;
    /// <summary>A flush after every this many writes; 0: none.</summary>
    public int FlushEvery { get; init; } = 64;
    public OnWriteError OnError { get; init; } = OnWriteError.Stop;
}

public sealed record WriteRunResult(long Writes, long Acknowledged, long Failed, long Flushes, long FlushesFailed, TimeSpan Elapsed)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Writes} writes ({Acknowledged} acknowledged, {Failed} failed), {Flushes} flushes ({FlushesFailed} failed) in {Elapsed.TotalSeconds:F1} s");
}

public enum ViolationKind
{
    /// <summary>A version older than the last acknowledged one, or zeros where a write was acknowledged.</summary>
    OlderThanAcknowledged,
    /// <summary>The block's header is ours but its checksum fails: parts of two versions, or damaged bytes.</summary>
    Torn,
    /// <summary>A block that was written holds no block header at all.</summary>
    Garbage,
    /// <summary>A valid block of another LBA: a misdirected write or read.</summary>
    WrongLba,
    /// <summary>A valid block of this LBA whose version was never sent, or that another run wrote.</summary>
    UnknownVersion,
    /// <summary>A block never written (nor in flight) is not zeros.</summary>
    NonzeroNeverWritten,
}

public sealed record Violation(long Lba, ViolationKind Kind, string Detail)
{
    public override string ToString() => $"LBA {Lba}: {Kind}: {Detail}";
}

/// <summary>The whole region read back. InFlightVersions: blocks holding a version whose write had no answer
/// (failed, or lost at a fault), which is allowed: such a write may or may not have reached the disk.</summary>
public sealed record VerifyReport(long BlocksChecked, long NeverWritten, long InFlightVersions, IReadOnlyList<Violation> Violations)
{
    public bool Clean => Violations.Count == 0;

    public override string ToString()
    {
        var sb = new StringBuilder().Append(CultureInfo.InvariantCulture,
            $"{BlocksChecked} blocks checked, {NeverWritten} never written, {InFlightVersions} hold an unacknowledged version, {Violations.Count} violations");
        foreach (var v in Violations.Take(50)) sb.Append("\n  ").Append(v);
        if (Violations.Count > 50) sb.Append(CultureInfo.InvariantCulture, $"\n  ... {Violations.Count - 50} more");
        return sb.ToString();
    }
}

/// <summary>
/// A data-loss checker for fault tests. It writes 4 KiB blocks through an NBD export of the LUN, remembers per block
/// the last acknowledged version and the versions in flight (sent, no answer), and afterwards reads the region back:
/// every block must hold its last acknowledged version or one that was in flight after it — never an older one,
/// never a torn or foreign one, and zeros where nothing was ever sent.
///
/// Each block carries a header (magic, its LBA in 4 KiB units, a per-block sequence number, the run id, a CRC32C of
/// the whole block) and is filled with bytes derived from (run, LBA, seq), so mixing two versions breaks the CRC.
/// Two writes to one block are never in flight at once: the target may reorder concurrent commands, and then "the
/// last acknowledged" version would not be defined. The state lives here, not in a connection: a test may write
/// through one qemu-nbd, lose it at a fault, and go on or verify through another.
/// </summary>
public sealed class BlockVerifier
{
    public const int BlockSize = 4096;
    private const ulong Magic = 0x4256_4154_4152_5453; // "STRATAVB" little-endian
    private const int CrcOffset = 32, HeaderBytes = 40; // magic, lba, seq, run id, crc, 4 reserved bytes
    private const int MaxErrorLog = 20;

    private readonly Lock _lock = new();
    private readonly ulong[] _acknowledged;   // per block: last acknowledged seq, 0 for none
    private readonly ulong[] _lastSent;       // per block: highest seq sent, 0 for never written
    private readonly bool[] _busy;            // per block: a write to it is in flight now
    private readonly Dictionary<long, List<ulong>> _inFlight = []; // per block: seqs sent and not acknowledged, newer than the acknowledged one
    private readonly Random _random;
    private readonly List<string> _errorLog = [];
    private long _acknowledgedWrites, _bytesWritten, _errors, _outcomeUnknown;
    private int _activeWrites;

    /// <summary>Covers the first <paramref name="deviceBytes"/> of the device (rounded down to 4 KiB blocks);
    /// <paramref name="seed"/> makes the choice of blocks repeatable.</summary>
    public BlockVerifier(long deviceBytes, int seed, ulong? runId = null)
    {
        Blocks = deviceBytes / BlockSize;
        if (Blocks < 1) throw new ArgumentOutOfRangeException(nameof(deviceBytes), "less than one 4 KiB block");
        _acknowledged = new ulong[Blocks];
        _lastSent = new ulong[Blocks];
        _busy = new bool[Blocks];
        _random = new Random(seed);
        RunId = runId ?? (ulong)Random.Shared.NextInt64();
    }

    public long Blocks { get; }
    public ulong RunId { get; }
    /// <summary>Write commands the target acknowledged.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledgedWrites);
    /// <summary>Bytes of acknowledged writes.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);
    /// <summary>Failed writes and flushes: what the initiator saw as I/O errors.</summary>
    public long Errors => Interlocked.Read(ref _errors);
    /// <summary>Writes sent that were never acknowledged: each may or may not have reached the disk.</summary>
    public long OutcomeUnknown => Interlocked.Read(ref _outcomeUnknown);

    /// <summary>The first errors' messages.</summary>
    public IReadOnlyList<string> ErrorLog { get { lock (_lock) return [.. _errorLog]; } }

    public ulong AcknowledgedSeq(long lba) { lock (_lock) return _acknowledged[lba]; }

    public bool EverWritten(long lba) { lock (_lock) return _lastSent[lba] != 0; }

    /// <summary>One write of <paramref name="blocks"/> adjacent blocks from <paramref name="lba"/>; true when acknowledged.
    /// A failure is counted in <see cref="Errors"/>, not thrown.</summary>
    public async Task<bool> WriteAsync(NbdClient nbd, long lba, int blocks = 1)
    {
        ulong[] seqs;
        lock (_lock)
        {
            if (lba < 0 || blocks < 1 || lba + blocks > Blocks) throw new ArgumentOutOfRangeException(nameof(lba));
            if (_busy.AsSpan((int)lba, blocks).Contains(true)) throw new InvalidOperationException($"a write to LBA {lba}..{lba + blocks - 1} is in flight");
            seqs = Begin(lba, blocks);
        }
        return await WriteRangeAsync(nbd, lba, seqs);
    }

    /// <summary>Random writes over the whole region at <see cref="WriteLoad.Depth"/>. Cancelling stops new writes; those in
    /// flight still get their answers (abandoning them would leave writes on the wire that a later one could overtake).
    /// To give up on writes that hang, dispose the NbdClient: they fail with outcome unknown.</summary>
    public async Task<WriteRunResult> RunWritesAsync(NbdClient nbd, WriteLoad load, CancellationToken cancellationToken = default)
    {
        if (load.Writes is null && load.Duration is null) throw new ArgumentException("give Writes or Duration", nameof(load));
        if (load.Depth < 1 || load.MaxBlocksPerWrite < 1) throw new ArgumentException("Depth and MaxBlocksPerWrite must be positive", nameof(load));
        // Room to pick a block range no write in flight touches, in a few tries.
        if (Blocks < 4L * load.Depth * load.MaxBlocksPerWrite) throw new ArgumentException($"{Blocks} blocks are too few for this depth", nameof(load));
        var clock = Stopwatch.StartNew();
        long issued = 0, acknowledged = 0, failed = 0, flushes = 0, flushesFailed = 0;
        bool stop = false;

        async Task WriterAsync()
        {
            while (!Volatile.Read(ref stop) && !cancellationToken.IsCancellationRequested && !(clock.Elapsed >= load.Duration))
            {
                long n = Interlocked.Increment(ref issued);
                if (n > load.Writes) return;
                long lba;
                ulong[] seqs;
                lock (_lock) (lba, seqs) = BeginRandom(load.MaxBlocksPerWrite);
                bool ok = await WriteRangeAsync(nbd, lba, seqs);
                Interlocked.Increment(ref ok ? ref acknowledged : ref failed);
                if (ok && load.FlushEvery > 0 && n % load.FlushEvery == 0)
                {
                    Interlocked.Increment(ref flushes);
                    try
                    {
                        await nbd.FlushAsync(CancellationToken.None);
                    }
                    catch (IOException e)
                    {
                        Interlocked.Increment(ref flushesFailed);
                        RecordError(e.Message);
                        ok = false;
                    }
                }
                if (!ok && load.OnError == OnWriteError.Stop) Volatile.Write(ref stop, true);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, load.Depth).Select(_ => Task.Run(WriterAsync, CancellationToken.None)));
        return new WriteRunResult(acknowledged + failed, acknowledged, failed, flushes, flushesFailed, clock.Elapsed);
    }

    /// <summary>Reads every block of the region through <paramref name="nbd"/> and checks it against what was written.
    /// Call it with no write in flight.</summary>
    public async Task<VerifyReport> VerifyAsync(NbdClient nbd, CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _activeWrites) != 0) throw new InvalidOperationException("writes are in flight: verify after they end");
        if (nbd.Size < Blocks * BlockSize) throw new ArgumentException($"the export has {nbd.Size} bytes, the verifier covers {Blocks * BlockSize}", nameof(nbd));
        const int chunkBlocks = 256, window = 4; // 1 MiB reads, 4 in flight
        var violations = new List<Violation>();
        long neverWritten = 0, inFlightVersions = 0;
        var reads = new Queue<(long Lba, Task<byte[]> Data)>();
        long next = 0;
        while (next < Blocks || reads.Count > 0)
        {
            while (reads.Count < window && next < Blocks)
            {
                int n = (int)Math.Min(chunkBlocks, Blocks - next);
                reads.Enqueue((next, nbd.ReadAsync(next * BlockSize, n * BlockSize, cancellationToken)));
                next += n;
            }
            var (first, read) = reads.Dequeue();
            byte[] data = await read;
            lock (_lock)
            {
                for (int i = 0; i * BlockSize < data.Length; i++)
                {
                    var v = Check(data.AsSpan(i * BlockSize, BlockSize), first + i, ref neverWritten, ref inFlightVersions);
                    if (v is not null) violations.Add(v);
                }
            }
        }
        return new VerifyReport(Blocks, neverWritten, inFlightVersions, violations);
    }

    private Violation? Check(ReadOnlySpan<byte> block, long lba, ref long neverWritten, ref long inFlightVersions)
    {
        ulong acked = _acknowledged[lba];
        bool written = _lastSent[lba] != 0;
        if (!block.ContainsAnyExcept((byte)0))
        {
            if (acked != 0) return new(lba, ViolationKind.OlderThanAcknowledged, $"reads as zeros; seq {acked} was acknowledged");
            if (!written) neverWritten++;
            return null;
        }
        if (BinaryPrimitives.ReadUInt64LittleEndian(block) != Magic)
        {
            string head = Convert.ToHexString(block[..16]);
            return written
                ? new(lba, ViolationKind.Garbage, $"no block header (starts {head}); last acknowledged seq {acked}")
                : new(lba, ViolationKind.NonzeroNeverWritten, $"never written, yet not zeros (starts {head})");
        }
        ulong headerLba = BinaryPrimitives.ReadUInt64LittleEndian(block[8..]);
        ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(block[16..]);
        ulong run = BinaryPrimitives.ReadUInt64LittleEndian(block[24..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(block[CrcOffset..]) != Checksum(block))
            return new(lba, ViolationKind.Torn, $"bad checksum under a header of LBA {headerLba} seq {seq}; last acknowledged seq {acked}");
        if (headerLba != (ulong)lba) return new(lba, ViolationKind.WrongLba, $"holds LBA {headerLba}'s block (seq {seq})");
        if (run != RunId) return new(lba, ViolationKind.UnknownVersion, $"written by run {run:x16}, not this one ({RunId:x16})");
        if (seq == acked) return null;
        if (seq < acked) return new(lba, ViolationKind.OlderThanAcknowledged, $"holds seq {seq}; seq {acked} was acknowledged");
        if (_inFlight.TryGetValue(lba, out var maybe) && maybe.Contains(seq))
        {
            inFlightVersions++;
            return null;
        }
        return new(lba, ViolationKind.UnknownVersion, $"holds seq {seq}, never sent (last sent {_lastSent[lba]}, acknowledged {acked})");
    }

    /// <summary>Under the lock: a range of free blocks, a quarter of the time several of them.</summary>
    private (long Lba, ulong[] Seqs) BeginRandom(int maxBlocks)
    {
        while (true)
        {
            int blocks = maxBlocks > 1 && _random.Next(4) == 0 ? _random.Next(2, maxBlocks + 1) : 1;
            long lba = _random.NextInt64(0, Blocks - blocks + 1);
            if (!_busy.AsSpan((int)lba, blocks).Contains(true)) return (lba, Begin(lba, blocks));
        }
    }

    /// <summary>Under the lock: the next seq of each block, now in flight.</summary>
    private ulong[] Begin(long lba, int blocks)
    {
        var seqs = new ulong[blocks];
        for (int i = 0; i < blocks; i++)
        {
            long b = lba + i;
            _busy[b] = true;
            seqs[i] = ++_lastSent[b];
            if (!_inFlight.TryGetValue(b, out var list)) _inFlight[b] = list = [];
            list.Add(seqs[i]);
        }
        Interlocked.Increment(ref _activeWrites);
        return seqs;
    }

    private async Task<bool> WriteRangeAsync(NbdClient nbd, long lba, ulong[] seqs)
    {
        bool acknowledged = false;
        try
        {
            var data = new byte[seqs.Length * BlockSize];
            for (int i = 0; i < seqs.Length; i++) Format(data.AsSpan(i * BlockSize, BlockSize), lba + i, seqs[i]);
            await nbd.WriteAsync(lba * BlockSize, data, CancellationToken.None);
            acknowledged = true;
        }
        catch (IOException e)
        {
            // The write stays in flight in the books: it may have reached the disk or not.
            Interlocked.Increment(ref _outcomeUnknown);
            RecordError(e.Message);
        }
        finally
        {
            lock (_lock)
            {
                for (int i = 0; i < seqs.Length; i++)
                {
                    long b = lba + i;
                    _busy[b] = false;
                    if (!acknowledged) continue;
                    _acknowledged[b] = seqs[i];
                    // Versions older than an acknowledged one are no longer allowed on the disk.
                    var list = _inFlight[b];
                    list.RemoveAll(s => s <= seqs[i]);
                    if (list.Count == 0) _inFlight.Remove(b);
                }
            }
            if (acknowledged)
            {
                Interlocked.Increment(ref _acknowledgedWrites);
                Interlocked.Add(ref _bytesWritten, seqs.Length * BlockSize);
            }
            Interlocked.Decrement(ref _activeWrites);
        }
        return acknowledged;
    }

    private void RecordError(string message)
    {
        Interlocked.Increment(ref _errors);
        lock (_lock) if (_errorLog.Count < MaxErrorLog) _errorLog.Add(message);
    }

    /// <summary>The bytes of version <paramref name="seq"/> of block <paramref name="lba"/> in this run.</summary>
    private void Format(Span<byte> block, long lba, ulong seq)
    {
        // splitmix64 seeded by (run, lba, seq): every version of every block has its own bytes.
        ulong state = RunId ^ ((ulong)lba * 0x9E3779B97F4A7C15) ^ (seq * 0xC2B2AE3D27D4EB4F);
        for (int i = HeaderBytes; i < BlockSize; i += 8)
        {
            ulong z = state += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            BinaryPrimitives.WriteUInt64LittleEndian(block[i..], z ^ (z >> 31));
        }
        BinaryPrimitives.WriteUInt64LittleEndian(block, Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(block[8..], (ulong)lba);
        BinaryPrimitives.WriteUInt64LittleEndian(block[16..], seq);
        BinaryPrimitives.WriteUInt64LittleEndian(block[24..], RunId);
        block[CrcOffset..HeaderBytes].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(block[CrcOffset..], Checksum(block));
    }

    /// <summary>CRC32C of the whole block but its own 4 bytes.</summary>
    private static uint Checksum(ReadOnlySpan<byte> block) =>
        Crc32C.Append(Crc32C.Append(0, block[..CrcOffset]), block[(CrcOffset + 4)..]);
}

/// <summary>CRC32C (Castagnoli) on the BCL's BitOperations.Crc32C, which uses the CPU's crc32 instruction where
/// there is one; this project references no src project, so it does not borrow Strata's.</summary>
internal static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Append(Append(0, a), b) == Compute(a + b).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint c = ~crc;
        for (; data.Length >= 8; data = data[8..]) c = BitOperations.Crc32C(c, BinaryPrimitives.ReadUInt64LittleEndian(data));
        foreach (byte b in data) c = BitOperations.Crc32C(c, b);
        return ~c;
    }
}
