using System.Globalization;
using System.Runtime.InteropServices;

namespace Strata.Bench.PoolVsFile;

/// <summary>
/// bench/pool-vs-file: the pool engine beside a raw sparse file, the same closed-loop workloads through
/// <see cref="Strata.Blocks.IBlockDevice"/> in the same run, and snapshot creation time on a large volume.
/// Tables go to stdout, progress to stderr. See bench/README.md.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        Options o;
        try
        {
            o = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"pool-vs-file: {e.Message}");
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }

        if (o.Help)
        {
            Console.WriteLine(Options.Usage);
            return 0;
        }

        using var cts = new CancellationTokenSource();
        void Interrupt(PosixSignalContext c)
        {
            c.Cancel = true; // stop the workers, close the devices and remove the files before exiting
            if (!cts.IsCancellationRequested)
            {
                Console.Error.WriteLine($"pool-vs-file: {c.Signal}: stopping, then removing the files");
                cts.Cancel();
            }
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Interrupt);

        string dir;
        try
        {
            Directory.CreateDirectory(o.Dir);
            dir = Path.Combine(Path.GetFullPath(o.Dir), $"strata-pool-vs-file-{Environment.ProcessId}-{Random.Shared.Next():x8}");
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"pool-vs-file: cannot make a directory in {o.Dir}: {e.Message}");
            return 2;
        }

        Console.WriteLine("pool-vs-file: Strata's pool engine beside a raw sparse file, the same workloads in the same run");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Machine.MemoryText()} RAM, {RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Console.WriteLine($"load average at start: {Machine.LoadText()} (1, 5, 15 min)");
        Console.WriteLine($"files in {dir} ({Machine.FileSystemOf(dir)}, {Machine.FreeBytes(dir) / (double)(1L << 30):0.0} GiB free)");
        Console.WriteLine();

        int rc = 0;
        try
        {
            if (!o.SkipRows && o.Rows.Count > 0)
            {
                await RowsBench.RunAsync(o, dir, cts.Token);
            }

            if (!o.SkipSnapshot)
            {
                await SnapshotBench.RunAsync(o, dir, cts.Token);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            Console.WriteLine("interrupted");
            rc = 130;
        }
        catch (Exception e)
        {
            Console.WriteLine($"FAILED: {e.GetType().Name}: {e.Message}");
            Console.Error.WriteLine($"pool-vs-file: {e}");
            rc = 1;
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
                Console.Error.WriteLine($"pool-vs-file: removed {dir}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"pool-vs-file: could not remove {dir}: {e.Message}");
                rc = rc == 0 ? 1 : rc;
            }
        }

        Console.WriteLine();
        Console.WriteLine($"load average at end: {Machine.LoadText()}");
        return rc;
    }

    public static void Progress(string message) => Console.Error.WriteLine($"pool-vs-file: {message}");

    public static string Gib(long bytes) => $"{bytes / (double)(1L << 30):0.00} GiB";
}
