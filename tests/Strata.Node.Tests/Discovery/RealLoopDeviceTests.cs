using System.Diagnostics;
using Strata.Node.Discovery;
using Xunit;

namespace Strata.Node.Tests.Discovery;

/// <summary>
/// Discovery against this machine's real sysfs: a sparse file attached with losetup(8) must be found as a free
/// loop device. Needs root and util-linux's losetup (Debian's <c>mount</c> package, which bin/test installs); a
/// machine without losetup fails the test rather than skipping it.
/// </summary>
public sealed class RealLoopDeviceTests
{
    private const long Size = 64L * 1024 * 1024;

    [Fact]
    public void An_attached_sparse_file_is_discovered_as_a_free_loop_device()
    {
        var losetup = FindOnPath("losetup")
            ?? throw new Xunit.Sdk.XunitException(
                "losetup is not installed (PATH: " + Environment.GetEnvironmentVariable("PATH") + "); "
                + "install util-linux's losetup: `apt-get install mount` on Debian.");

        var directory = Directory.CreateTempSubdirectory("strata-node-loop-");
        var file = Path.Combine(directory.FullName, "vdev.img");
        string? device = null;
        try
        {
            using (var stream = new FileStream(file, FileMode.CreateNew))
            {
                stream.SetLength(Size);
            }

            device = Run(losetup, "--find", "--show", file).Trim();
            Assert.StartsWith("/dev/loop", device, StringComparison.Ordinal);

            var disks = new DiskDiscovery(new DiscoveryOptions { IncludeLoop = true, Include = [device] }).Discover();

            var disk = Assert.Single(disks);
            Assert.Equal(device, disk.Path);
            Assert.Equal(Path.GetFileName(device), disk.Name);
            Assert.Equal(Size, disk.SizeBytes);
            Assert.Equal(DeviceTypes.Loop, disk.DeviceType);
            Assert.Equal(file, disk.BackingFile);
            Assert.Equal(512, disk.LogicalSectorSize);
            Assert.Matches("^7:[0-9]+$", disk.DeviceNumber);
            Assert.False(disk.Partitioned);
            Assert.Null(disk.MountPoint);
            Assert.Empty(disk.Holders);
            Assert.False(disk.ReadOnly);
            Assert.False(disk.InUse, disk.UnusableReason);
        }
        finally
        {
            if (device is not null)
            {
                Run(losetup, "-d", device);
            }

            directory.Delete(recursive: true);
        }
    }

    private static string? FindOnPath(string program)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Runs a program to completion; a non-zero exit fails the test with its stderr.</summary>
    private static string Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill();
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish in 30 s");
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new Xunit.Sdk.XunitException(
                $"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr.GetAwaiter().GetResult().Trim()}");
        }

        return stdout;
    }
}
