using System.Buffers.Binary;
using Strata.Blocks;

namespace Strata.Pool.CrashWorker;

/// <summary>One write or unmap of a batch. Ranges within a batch never overlap.</summary>
public readonly record struct WorkloadOp(bool Unmap, long Lba, int Blocks, bool Fua);

/// <summary>
/// The crash tests' workload, generated from a seed so that the worker and the test agree on every batch without
/// talking: which ranges each batch writes or unmaps, and the exact bytes of every block written.
/// </summary>
public static class CrashWorkload
{
    public const string Volume = "crash";
    public const int BlockSize = 512;
    public const long VolumeBytes = 8L << 20;
    public const long Blocks = VolumeBytes / BlockSize;
    public const int ChunkSize = 16 * 1024;
    public const long VdevBytes = 32L << 20; // a mirror holds the volume and two snapshots even if they share nothing

    /// <summary>Every this many batches, after the flush, a snapshot of the volume is taken.</summary>
    public const int SnapshotEvery = 4;

    public static string SnapshotName(int batch) => $"b{batch}";

    public static IReadOnlyList<WorkloadOp> Batch(int seed, int batch)
    {
        var random = new Random((int)Mix((ulong)seed, (ulong)batch)); // not HashCode: it is seeded per process
        int count = random.Next(4, 24);
        var taken = new List<(long Start, long End)>();
        var ops = new List<WorkloadOp>();
        for (int i = 0; i < count; i++)
        {
            bool unmap = random.Next(8) == 0;
            int blocks = unmap && random.Next(2) == 0 ? ChunkSize / BlockSize * random.Next(1, 4) : random.Next(1, 65);
            long lba = random.NextInt64(Blocks - blocks);
            if (unmap && random.Next(2) == 0)
            {
                lba -= lba % (ChunkSize / BlockSize);
            }

            if (taken.Any(t => lba < t.End && t.Start < lba + blocks))
            {
                continue;
            }

            taken.Add((lba, lba + blocks));
            ops.Add(new WorkloadOp(unmap, lba, blocks, Fua: !unmap && random.Next(6) == 0));
        }

        return ops;
    }

    /// <summary>
    /// Runs batches of the workload on the pool's volume until an I/O fails (the process is killed, or the power
    /// cut), saying each promise as it is kept: <c>ready</c>, <c>fua B I</c>, <c>durable B</c>, <c>snapshot B</c>,
    /// <c>deleted B</c>.
    /// </summary>
    public static async Task RunAsync(StoragePool pool, int seed, Action<string> say)
    {
        if (pool.FindVolume(Volume) is null)
        {
            await pool.CreateVolumeAsync(Volume, VolumeBytes, BlockSize);
        }

        var volume = pool.OpenVolume(Volume);
        say("ready");
        var snapshots = new Queue<int>();
        for (int batch = 1; ; batch++)
        {
            var ops = Batch(seed, batch);
            var tasks = new List<Task>();
            for (int i = 0; i < ops.Count; i++)
            {
                tasks.Add(RunOpAsync(volume, seed, batch, i, ops[i], say));
            }

            await Task.WhenAll(tasks);
            await volume.FlushAsync();
            say($"durable {batch}");
            if (batch % SnapshotEvery == 0)
            {
                await pool.SnapshotAsync(Volume, SnapshotName(batch));
                say($"snapshot {batch}");
                snapshots.Enqueue(batch);
                if (snapshots.Count > 2)
                {
                    int old = snapshots.Dequeue();
                    await pool.DeleteAsync($"{Volume}@{SnapshotName(old)}");
                    say($"deleted {old}");
                }
            }
        }
    }

    private static async Task RunOpAsync(PoolVolume volume, int seed, int batch, int index, WorkloadOp op, Action<string> say)
    {
        await Task.Yield();
        if (op.Unmap)
        {
            await volume.UnmapAsync(op.Lba, op.Blocks);
            return;
        }

        var data = new byte[op.Blocks * BlockSize];
        for (int b = 0; b < op.Blocks; b++)
        {
            Fill(data.AsSpan(b * BlockSize, BlockSize), seed, batch, index, op.Lba + b);
        }

        await volume.WriteAsync(op.Lba, data, op.Fua ? WriteFlags.Fua : WriteFlags.None);
        if (op.Fua)
        {
            say($"fua {batch} {index}");
        }
    }

    /// <summary>The bytes of block <paramref name="lba"/> as op <paramref name="op"/> of a batch writes it.</summary>
    public static void Fill(Span<byte> block, int seed, int batch, int op, long lba)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(block, 0x5452415348_4B4C42UL); // a recognizable header
        BinaryPrimitives.WriteInt32LittleEndian(block[8..], seed);
        BinaryPrimitives.WriteInt32LittleEndian(block[12..], batch);
        BinaryPrimitives.WriteInt32LittleEndian(block[16..], op);
        BinaryPrimitives.WriteInt64LittleEndian(block[20..], lba);
        ulong x = Mix(Mix((ulong)seed, (ulong)batch), Mix((ulong)op, (ulong)lba)) | 1;
        for (int i = 32; i + 8 <= block.Length; i += 8)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(block[i..], x);
        }
    }

    /// <summary>A hash of two numbers that is the same in every process (splitmix64's finalizer).</summary>
    private static ulong Mix(ulong a, ulong b)
    {
        ulong z = a * 0x9E3779B97F4A7C15UL + b;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Says what a block holds, for failure messages: "zeros", "seed/batch/op" or "garbage".</summary>
    public static string Describe(ReadOnlySpan<byte> block)
    {
        if (block.IndexOfAnyExcept((byte)0) < 0)
        {
            return "zeros";
        }

        return BinaryPrimitives.ReadUInt64LittleEndian(block) == 0x5452415348_4B4C42UL
            ? $"seed {BinaryPrimitives.ReadInt32LittleEndian(block[8..])} batch {BinaryPrimitives.ReadInt32LittleEndian(block[12..])} op {BinaryPrimitives.ReadInt32LittleEndian(block[16..])} (lba {BinaryPrimitives.ReadInt64LittleEndian(block[20..])})"
            : "garbage";
    }
}
