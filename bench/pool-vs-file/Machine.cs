using System.Diagnostics;
using System.Globalization;

namespace Strata.Bench.PoolVsFile;

/// <summary>CPU time used on the whole machine (from /proc/stat) and by this process, at one moment.</summary>
internal readonly record struct MachineSample(double BusySeconds, double OwnSeconds, long Timestamp)
{
    // /proc/stat counts in USER_HZ ticks, 100 per second on Linux.
    private const double TicksPerSecond = 100;

    public static MachineSample Take()
    {
        double busy = 0;
        try
        {
            // cpu  user nice system idle iowait irq softirq steal ...
            string line = File.ReadLines("/proc/stat").First();
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long Field(int i) => f.Length > i ? long.Parse(f[i], CultureInfo.InvariantCulture) : 0;
            busy = (Field(1) + Field(2) + Field(3) + Field(6) + Field(7) + Field(8)) / TicksPerSecond;
        }
        catch (IOException)
        {
        }

        using var self = Process.GetCurrentProcess();
        return new MachineSample(busy, self.TotalProcessorTime.TotalSeconds, Stopwatch.GetTimestamp());
    }
}

/// <summary>
/// How busy the machine was during a measurement: cores used by this process, by everything else (other
/// builds and tests on a shared machine), and the 1-minute load average at its end.
/// </summary>
internal readonly record struct MachineLoad(double OwnCores, double OtherCores, double Load1)
{
    public static MachineLoad Between(MachineSample a, MachineSample b)
    {
        double seconds = Stopwatch.GetElapsedTime(a.Timestamp, b.Timestamp).TotalSeconds;
        if (seconds <= 0)
        {
            return new MachineLoad(0, 0, Machine.LoadAverage()[0]);
        }

        double own = (b.OwnSeconds - a.OwnSeconds) / seconds;
        double all = (b.BusySeconds - a.BusySeconds) / seconds;
        return new MachineLoad(own, Math.Max(0, all - own), Machine.LoadAverage()[0]);
    }
}

internal static class Machine
{
    /// <summary>The 1, 5 and 15 minute load averages.</summary>
    public static double[] LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (IOException)
        {
            return [double.NaN, double.NaN, double.NaN];
        }
    }

    public static string LoadText()
    {
        var l = LoadAverage();
        return string.Create(CultureInfo.InvariantCulture, $"{l[0]:0.00} {l[1]:0.00} {l[2]:0.00}");
    }

    public static string MemoryText()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out long kib))
            {
                return string.Create(CultureInfo.InvariantCulture, $"{kib / 1048576.0:0.0} GiB");
            }
        }
        catch (IOException)
        {
        }

        return "?";
    }

    /// <summary>The file system type of the mount that holds <paramref name="path"/> (the longest matching mount point).</summary>
    public static string FileSystemOf(string path)
    {
        try
        {
            string full = Path.GetFullPath(path);
            string best = "", type = "?";
            foreach (var line in File.ReadLines("/proc/mounts"))
            {
                var f = line.Split(' ');
                if (f.Length < 3)
                {
                    continue;
                }

                string mount = f[1];
                bool under = full == mount || full.StartsWith(mount.EndsWith('/') ? mount : mount + "/", StringComparison.Ordinal);
                if (under && mount.Length >= best.Length)
                {
                    best = mount;
                    type = f[2];
                }
            }

            return $"{type} on {best}";
        }
        catch (IOException)
        {
            return "?";
        }
    }

    /// <summary>Bytes the file takes on disk (allocated blocks, not its sparse size), from du(1); -1 if unknown.</summary>
    public static long DiskUsage(string path)
    {
        try
        {
            var psi = new ProcessStartInfo("du") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("--block-size=1");
            psi.ArgumentList.Add(path);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return long.TryParse(output.Split('\t')[0], out long bytes) ? bytes : -1;
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }

    public static long FreeBytes(string dir) => new DriveInfo(Path.GetFullPath(dir)).AvailableFreeSpace;
}
