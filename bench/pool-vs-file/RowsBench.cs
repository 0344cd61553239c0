using Strata.Blocks;
using Strata.Pool;

namespace Strata.Bench.PoolVsFile;

/// <summary>
/// Rows 1-4: the same workloads on a raw sparse file (<see cref="FileBlockDevice"/>) and on a volume of a striped
/// pool of one sparse-file vdev, both the same size, both through the page cache.
/// </summary>
/// <remarks>
/// The devices' logical space: [0, region) is written fully once first and then overwritten (row 1) and read
/// (row 2); the next --fresh-gib are row 3's chunk-sized slots, each written once; the --seq-gib after them are
/// row 4's. Never-written space costs nothing on either side (sparse files, thin volume).
/// </remarks>
internal static class RowsBench
{
    private const int FillDepth = 8;

    private static readonly Row[] AllRows =
    [
        new(1, "4 KiB random overwrite QD32 +flush", new Workload(4096, 32, Write: true, FlushAtEnd: true), 0.8),
        new(2, "4 KiB random read QD32", new Workload(4096, 32, Write: false, FlushAtEnd: false), 0.8),
        new(3, "4 KiB random first write QD32 +flush", new Workload(4096, 32, Write: true, FlushAtEnd: true), 0.5),
        new(4, "128 KiB sequential first write QD8 +flush", new Workload(128 * 1024, 8, Write: true, FlushAtEnd: true), 0.9),
    ];

    public static async Task RunAsync(Options o, string dir, CancellationToken ct)
    {
        int chunk = o.ChunkKiB * 1024;
        long region = o.RegionMiB << 20;
        int freshSlots = checked((int)((o.FreshGiB << 30) / chunk));
        long freshStart = region;
        long seqStart = freshStart + (long)freshSlots * chunk;
        long seqEnd = seqStart + (o.SeqGiB << 30);
        long deviceBytes = seqEnd;
        // Room for every chunk of the volume, plus the metadata ring (about 1/128 of the vdev by default).
        long vdevBytes = deviceBytes + deviceBytes / 64 + (256L << 20);
        var rows = AllRows.Where(r => o.Rows.Contains(r.Number)).ToArray();
        bool precondition = rows.Any(r => r.Number is 1 or 2);

        long free = Machine.FreeBytes(dir);
        long needed = (precondition ? 2 * region : 0) + (4L << 30);
        if (free < needed)
        {
            throw new InvalidOperationException($"{Program.Gib(free)} free in {dir}, and rows 1-4 need at least {Program.Gib(needed)}");
        }

        if (rows.Any(r => r.Number == 4) && free < needed + 2 * (o.SeqGiB << 30))
        {
            Program.Progress($"warning: {Program.Gib(free)} free; row 4 may write up to {o.SeqGiB} GiB on each side (--seq-gib)");
        }

        Console.WriteLine($"rows 1-4: {o.Seconds:0.#} s timed after {o.Warmup:0.#} s of warm-up per cell, {o.Runs} run(s) per cell (median), raw and pool taking turns");
        Console.WriteLine($"  raw:  FileBlockDevice on a sparse file of {Program.Gib(deviceBytes)}, {o.BlockSize}-byte blocks, page cache (no O_DIRECT)");
        Console.WriteLine($"  pool: striped pool of one sparse-file vdev of {Program.Gib(vdevBytes)}, {o.ChunkKiB} KiB chunks, one volume of {Program.Gib(deviceBytes)}, {o.BlockSize}-byte blocks");
        // The region is written in chunk-sized writes on both sides: the page cache keeps the folio size a write
        // made (ext4 has large folios since Linux 6.16), and a 4 KiB overwrite inside a 1 MiB folio costs several
        // times one inside a 64 KiB folio. The pool splits every write at chunk boundaries; the raw file must not
        // be preconditioned with bigger writes than the pool's vdev was, or row 1 compares folio sizes.
        Console.WriteLine($"  rows 1-2 work on a {o.RegionMiB} MiB region written fully once first ({o.ChunkKiB} KiB writes, QD{FillDepth}, then a flush), on both sides");
        Console.WriteLine($"  row 3 writes each of {freshSlots} {o.ChunkKiB} KiB slots at most once (random order, 4 KiB at a fixed spot inside), so on the pool every write maps a new chunk");
        Console.WriteLine($"  row 4 writes fresh space sequentially from where the previous run stopped (at most {o.SeqGiB} GiB per side)");
        Console.WriteLine();

        string rawPath = Path.Combine(dir, "raw.img");
        string vdevPath = Path.Combine(dir, "pool-vdev0.img");
        var results = new Dictionary<(int Row, string Side), List<Measurement>>();
        try
        {
            await using var raw = FileBlockDevice.Open(rawPath, deviceBytes, o.BlockSize, direct: false);
            await using var pool = await StoragePool.CreateAsync(new PoolCreateOptions
            {
                Name = "bench",
                Layout = PoolLayout.Striped,
                ChunkSize = chunk,
                Vdevs = [new VdevSpec(vdevPath, vdevBytes)],
            });
            await pool.CreateVolumeAsync("bench", deviceBytes, o.BlockSize);
            await using var volume = pool.OpenVolume("bench");
            Side[] sides =
            [
                new("raw", raw, new FreshSlotOffsets(freshStart, freshSlots, chunk, 4096, seed: 3), seqStart),
                new("pool", volume, new FreshSlotOffsets(freshStart, freshSlots, chunk, 4096, seed: 3), seqStart),
            ];

            if (precondition)
            {
                foreach (var side in sides)
                {
                    Program.Progress($"preconditioning {side.Name}: writing the {o.RegionMiB} MiB region once...");
                    double fill = await Driver.FillAsync(side.Device, 0, region, chunk, FillDepth, null, ct);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    await side.Device.FlushAsync(ct);
                    Console.WriteLine($"preconditioned {side.Name,-4}: {o.RegionMiB} MiB in {fill:0.0} s, flush {clock.Elapsed.TotalSeconds:0.0} s");
                }
            }

            var warmup = TimeSpan.FromSeconds(o.Warmup);
            var duration = TimeSpan.FromSeconds(o.Seconds);
            long seqPerRun = (seqEnd - seqStart) / o.Runs / (128 * 1024) * (128 * 1024);
            foreach (var row in rows)
            {
                for (int run = 0; run < o.Runs; run++)
                {
                    // Raw first on even runs, pool first on odd ones: drift on a shared machine hits both alike.
                    var order = run % 2 == 0 ? sides : sides.Reverse().ToArray();
                    foreach (var side in order)
                    {
                        OffsetSource offsets = row.Number switch
                        {
                            1 => new RandomOffsets(0, region, 4096, row.W.Depth, seed: 1 + run),
                            2 => new RandomOffsets(0, region, 4096, row.W.Depth, seed: 101 + run),
                            3 => side.Fresh,
                            _ => new SequentialOffsets(side.SeqNext, Math.Min(side.SeqNext + seqPerRun, seqEnd), row.W.IoBytes),
                        };

                        // Nothing of this side's earlier rows may still be dirty when the clock starts.
                        await side.Device.FlushAsync(ct);
                        Program.Progress($"row {row.Number} ({row.Label}), run {run + 1}/{o.Runs}, {side.Name}...");
                        Measurement m;
                        try
                        {
                            m = await Driver.MeasureAsync(side.Device, row.W, offsets, warmup, duration, ct);
                        }
                        catch (Exception e) when (e is not OperationCanceledException)
                        {
                            throw new InvalidOperationException($"row {row.Number} on {side.Name}: {e.Message}", e);
                        }

                        if (offsets is SequentialOffsets seq)
                        {
                            side.SeqNext = seq.Position;
                        }

                        if (!results.TryGetValue((row.Number, side.Name), out var list))
                        {
                            results[(row.Number, side.Name)] = list = [];
                        }

                        list.Add(m);
                        Program.Progress($"  {side.Name}: {m.Iops:0} IOPS, {m.MiBps:0.0} MiB/s over {m.Seconds:0.0} s (flush {m.FlushSeconds:0.00} s){(m.SpaceUsedUp ? ", ran out of fresh space" : "")}");
                    }
                }
            }

            await volume.FlushAsync(ct);
            Console.WriteLine(
                $"pool after rows 1-4: {pool.AllocatedChunks} chunks allocated ({Program.Gib(pool.AllocatedBytes)}), " +
                $"checkpoint {pool.MetadataUsedBytes / 1048576.0:0.0} MiB; row 3 used {sides[1].Fresh.Used} fresh slots on the pool, {sides[0].Fresh.Used} on raw");
            Console.WriteLine($"on disk: raw file {Program.Gib(Machine.DiskUsage(rawPath))}, pool vdev {Program.Gib(Machine.DiskUsage(vdevPath))}");
        }
        finally
        {
            PrintTable(rows, results);
            File.Delete(rawPath);
            File.Delete(vdevPath);
        }
    }

    private static void PrintTable(Row[] rows, Dictionary<(int Row, string Side), List<Measurement>> results)
    {
        Measurement? Median(int row, string side) =>
            results.TryGetValue((row, side), out var l) && l.Count > 0 ? l.OrderBy(m => m.Iops).ElementAt((l.Count - 1) / 2) : null;

        static string Cell(Measurement? m) => m is null ? $"{"failed",10} {"-",8}" : $"{m.Iops,10:0} {m.MiBps,8:0.0}";

        Console.WriteLine();
        Console.WriteLine($"{"workload",-44} | {"raw IOPS",10} {"MiB/s",8} | {"pool IOPS",10} {"MiB/s",8} | pool/raw | {"goal",-14} | load1 others' cores raw/pool");
        Console.WriteLine(new string('-', 45) + "+" + new string('-', 21) + "+" + new string('-', 21) + "+----------+" + new string('-', 16) + "+" + new string('-', 30));
        foreach (var row in rows)
        {
            var raw = Median(row.Number, "raw");
            var pool = Median(row.Number, "pool");
            string ratio = "-", goal = $">= {row.Goal:0.0#}";
            if (raw is not null && pool is not null && raw.Iops > 0)
            {
                double r = pool.Iops / raw.Iops;
                ratio = $"{r:0.00}";
                goal += r >= row.Goal ? " met" : " MISSED";
            }

            string load = raw is null || pool is null
                ? "-"
                : $"{Math.Max(raw.Load.Load1, pool.Load.Load1),5:0.0} {raw.Load.OtherCores:0.0}/{pool.Load.OtherCores:0.0}";
            Console.WriteLine($"{$"{row.Number}. {row.Label}",-44} | {Cell(raw)} | {Cell(pool)} | {ratio,8} | {goal,-14} | {load}");
        }

        Console.WriteLine();
        Console.WriteLine("MiB/s = 2^20 bytes/s. IOPS = I/Os completed in the timed window / its seconds; for +flush rows the window");
        Console.WriteLine("ends when the final FlushAsync returns. load1: the 1-minute load average at the end of the row.");
        Console.WriteLine("others' cores: CPU used by other processes during the measurement (/proc/stat minus this process), of");
        Console.WriteLine($"{Environment.ProcessorCount}. Per cell (the median run):");
        foreach (var row in rows)
        {
            foreach (var side in new[] { "raw", "pool" })
            {
                if (Median(row.Number, side) is { } m)
                {
                    Console.WriteLine(
                        $"  {row.Number}. {side,-4}: {m.Ops,9} I/Os in {m.Seconds,6:0.00} s (final flush {m.FlushSeconds,5:0.00} s), " +
                        $"this process {m.Load.OwnCores:0.00} cores, others {m.Load.OtherCores:0.00}, {m.Threads} pool threads{(m.SpaceUsedUp ? ", ran out of fresh space before the time was up" : "")}");
                }
            }
        }

        Console.WriteLine();
    }

    private sealed record Row(int Number, string Label, Workload W, double Goal);

    private sealed class Side(string name, IBlockDevice device, FreshSlotOffsets fresh, long seqNext)
    {
        public string Name { get; } = name;

        public IBlockDevice Device { get; } = device;

        public FreshSlotOffsets Fresh { get; } = fresh;

        public long SeqNext { get; set; } = seqNext;
    }
}
