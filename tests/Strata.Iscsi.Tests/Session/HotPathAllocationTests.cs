using System.Diagnostics;
using System.Net;
using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Target;
using Xunit;
using Xunit.Abstractions;

namespace Strata.Iscsi.Tests.Session;

[CollectionDefinition(nameof(AllocationMeasurement), DisableParallelization = true)]
public sealed class AllocationMeasurement
{
}

/// <summary>
/// The target allocates nothing per command in steady state: a real initiator (qemu-img bench, a process of its
/// own) drives an in-process target, and the allocations of this process are counted per command.
/// </summary>
[Collection(nameof(AllocationMeasurement))]
public sealed class HotPathAllocationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Iqn = "iqn.2026-11.io.strata:alloc";
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-alloc-").FullName;
    private FileBlockDevice _device = null!;
    private IscsiTargetServer _server = null!;

    public async Task InitializeAsync()
    {
        _device = FileBlockDevice.Open(Path.Combine(_dir, "lun.img"), 64L << 20);
        _server = new IscsiTargetServer(new IscsiTargetOptions { Portal = new IPEndPoint(IPAddress.Loopback, 0) });
        _server.AddTarget(new IscsiTarget(new TargetLoginPolicy { Name = Iqn }, TestExecutors.Create(_device)));
        _server.Start();
        await Bench(write: true, count: 2000); // warm up: pools fill, tiers compile
    }

    [Theory]
    [InlineData(true, 4096, 32)]
    [InlineData(false, 4096, 32)]
    [InlineData(true, 131072, 8)]
    [InlineData(false, 131072, 8)]
    public async Task Steady_state_commands_allocate_almost_nothing(bool write, int size, int depth)
    {
        const int count = 20000;
        await Bench(write, 2000, size, depth);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        using var probe = new AllocProbe();
        await Bench(write, count, size, depth);
        foreach (var kv in probe.Types.OrderByDescending(k => k.Value).Take(12))
        {
            output.WriteLine($"  {kv.Value} x {kv.Key}");
        }

        long after = GC.GetTotalAllocatedBytes(precise: true);
        double perCommand = (after - before) / (double)count;
        output.WriteLine($"{(write ? "write" : "read")} {size} B QD{depth}: {perCommand:0.0} bytes allocated per command");

        // The budget leaves room for per-batch and timer allocations that are not per command.
        Assert.True(perCommand < 64, $"{perCommand:0.0} bytes allocated per command");
    }

    private async Task Bench(bool write, int count, int size = 4096, int depth = 32)
    {
        var url = $"iscsi://127.0.0.1:{_server.LocalEndPoint!.Port}/{Iqn}/0";
        var args = new List<string> { "bench", "-f", "raw", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-d", depth.ToString(System.Globalization.CultureInfo.InvariantCulture), "-s", size.ToString(System.Globalization.CultureInfo.InvariantCulture), "-S", size.ToString(System.Globalization.CultureInfo.InvariantCulture), "-t", "none", "-i", "native" };
        if (write)
        {
            args.Insert(3, "-w");
        }

        args.Add(url);
        var psi = new ProcessStartInfo("qemu-img", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(process.ExitCode == 0, $"qemu-img {string.Join(' ', args)} failed: {await stdout}{await stderr}");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _device.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
