using System.Diagnostics;
using Strata.Blocks;
using Strata.Pool;

namespace Strata.Bench.PoolVsFile;

/// <summary>
/// Row 5: how long <see cref="StoragePool.SnapshotAsync"/> takes on a large volume with a lot written (goal: under
/// 10 ms), with the same pool's fixed costs beside it: a commit with nothing pending, and a snapshot of an empty
/// volume.
/// </summary>
internal static class SnapshotBench
{
    private const int FillIo = 1 << 20;
    private const int FillDepth = 8;
    private const double GoalMs = 10;

    public static async Task RunAsync(Options o, string dir, CancellationToken ct)
    {
        int chunk = o.ChunkKiB * 1024;
        long written = (long)(o.SnapshotGiB * (1L << 30)) / FillIo * FillIo;
        long volumeBytes = o.SnapshotVolumeGiB << 30;
        long vdevBytes = o.SnapshotVdevGiB << 30;
        long free = Machine.FreeBytes(dir);
        if (free < written + (4L << 30))
        {
            throw new InvalidOperationException($"{Program.Gib(free)} free in {dir}: not enough to write {Program.Gib(written)} and keep 4 GiB spare (--snapshot-gib)");
        }

        Console.WriteLine($"5. snapshot creation: a striped pool of one sparse vdev of {o.SnapshotVdevGiB} GiB, {o.ChunkKiB} KiB chunks, a {o.SnapshotVolumeGiB} GiB volume");
        Console.WriteLine($"   with {Program.Gib(written)} written from offset 0 ({FillIo >> 20} MiB writes, QD{FillDepth}) and flushed; then {o.Snapshots} snapshots, each timed");

        string vdevPath = Path.Combine(dir, "snapshot-vdev0.img");
        try
        {
            await using var pool = await StoragePool.CreateAsync(new PoolCreateOptions
            {
                Name = "snap",
                Layout = PoolLayout.Striped,
                ChunkSize = chunk,
                Vdevs = [new VdevSpec(vdevPath, vdevBytes)],
            });
            if (pool.CapacityBytes < written)
            {
                throw new InvalidOperationException($"the pool holds {Program.Gib(pool.CapacityBytes)}, less than the {Program.Gib(written)} to write");
            }

            await pool.CreateVolumeAsync("vol", volumeBytes, o.BlockSize);
            await pool.CreateVolumeAsync("empty", volumeBytes, o.BlockSize);
            var volume = pool.OpenVolume("vol");
            try
            {
                Program.Progress($"snapshot volume: writing {Program.Gib(written)}...");
                double fill = await Driver.FillAsync(volume, 0, written, FillIo, FillDepth,
                    (done, secs) => Program.Progress($"  {Program.Gib(done)} of {Program.Gib(written)} written ({done / secs / 1048576:0} MiB/s)"), ct);
                var clock = Stopwatch.StartNew();
                await volume.FlushAsync(ct);
                double flush = clock.Elapsed.TotalSeconds;
                Console.WriteLine($"   written in {fill:0.0} s ({written / fill / 1048576:0} MiB/s), flush {flush:0.0} s; the vdev file takes {Program.Gib(Machine.DiskUsage(vdevPath))} on disk");
            }
            finally
            {
                await volume.DisposeAsync();
            }

            // Taken in turns, so drift on a shared machine hits every kind alike.
            string rawPath = Path.Combine(dir, "snapshot-raw.img");
            await using var raw = FileBlockDevice.Open(rawPath, 1L << 30, o.BlockSize, direct: false);
            var buffer = new byte[4096];
            int n = o.Snapshots;
            double[] snaps = new double[n], find = new double[n], empty = new double[n], idle = new double[n], rawSync = new double[n];
            // One of each, untimed, so the first timed ones do not pay for the JIT compiling their code paths.
            await pool.SnapshotAsync("empty", "warm-up");
            await pool.DeleteAsync("empty@warm-up");
            await pool.CommitAsync();
            await raw.WriteAsync(0, buffer, WriteFlags.None);
            await raw.FlushAsync();
            var load0 = MachineSample.Take();
            for (int i = 0; i < n; i++)
            {
                ct.ThrowIfCancellationRequested();
                snaps[i] = await TimeAsync(() => pool.SnapshotAsync("vol", $"s{i}"));
                find[i] = await TimeAsync(() => Task.FromResult(pool.FindVolume($"vol@s{i}")));
                empty[i] = await TimeAsync(() => pool.SnapshotAsync("empty", $"s{i}"));
                idle[i] = await TimeAsync(() => pool.CommitAsync().AsTask());
                rawSync[i] = await TimeAsync(async () =>
                {
                    await raw.WriteAsync(((long)(i % 1023 + 1) << 20) / o.BlockSize, buffer, WriteFlags.None);
                    await raw.FlushAsync();
                });
            }

            var load = MachineLoad.Between(load0, MachineSample.Take());
            var info = pool.FindVolume("vol@s0")!;
            var deletes = new double[n];
            for (int i = 0; i < n; i++)
            {
                deletes[i] = await TimeAsync(() => pool.DeleteAsync($"vol@s{i}"));
            }

            Console.WriteLine($"   each snapshot maps {info.ReferencedChunks} chunks ({Program.Gib(info.ReferencedChunks * chunk)})");
            Console.WriteLine();
            Console.WriteLine($"   {"operation",-58} | {"min ms",8} {"median",8} {"max",8} | goal");
            Console.WriteLine("   " + new string('-', 59) + "+" + new string('-', 28) + "+" + new string('-', 26));
            Line($"SnapshotAsync, {Program.Gib(written)} written (x{n})", snaps, $"< {GoalMs:0} ms: {(Median(snaps) < GoalMs ? "met" : "MISSED")} (median)");
            Line($"FindVolume of that snapshot, as SnapshotAsync returns (x{n})", find, "");
            Line($"SnapshotAsync of an empty {o.SnapshotVolumeGiB} GiB volume, same pool (x{n})", empty, "");
            Line($"CommitAsync with nothing pending, same pool (x{n})", idle, "");
            Line($"raw file: 4 KiB write to unwritten space + FlushAsync (x{n})", rawSync, "");
            Line($"DeleteAsync of the {Program.Gib(written)} snapshots (x{n})", deletes, "");
            Console.WriteLine($"   in order (ms): snapshots {List(snaps)}; empty-volume snapshots {List(empty)}; deletes {List(deletes)}");
            Console.WriteLine();
            Console.WriteLine("   A snapshot commits: it syncs the vdevs, writes a log batch into fresh ring space and syncs again. The raw");
            Console.WriteLine("   file's fresh write + flush is what such a durable 4 KiB write costs on this file system; the empty volume's");
            Console.WriteLine("   snapshot is the engine's fixed cost; the difference to the full one grows with the chunks mapped.");
            Console.WriteLine($"   during the timings: this process {load.OwnCores:0.00} cores, others {load.OtherCores:0.00} of {Environment.ProcessorCount}, load1 {load.Load1:0.0}");
        }
        finally
        {
            File.Delete(vdevPath);
            File.Delete(Path.Combine(dir, "snapshot-raw.img"));
        }
    }

    private static async Task<double> TimeAsync(Func<Task> op)
    {
        var clock = Stopwatch.StartNew();
        await op();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static string List(double[] ms) => string.Join(" ", ms.Select(m => $"{m:0.0}"));

    private static double Median(double[] ms) => ms.Order().ElementAt((ms.Length - 1) / 2);

    private static void Line(string what, double[] ms, string goal) =>
        Console.WriteLine($"   {what,-58} | {ms.Min(),8:0.00} {Median(ms),8:0.00} {ms.Max(),8:0.00} | {goal}");
}
