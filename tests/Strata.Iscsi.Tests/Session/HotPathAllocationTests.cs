using System.Diagnostics;
using System.Net;
using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Target;
using Xunit;
using Xunit.Abstractions;

namespace Strata.Iscsi.Tests.Session;

/// <summary>
/// The target allocates nothing per command in steady state: a real initiator (qemu-img bench, a process of its
/// own) drives an in-process target, and the allocations of this process are counted per command.
/// </summary>
[Collection(nameof(ProcessWideMeasurement))]
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

        // The shared buffer pool grows to the most buffers ever in flight at once. That high-water mark still
        // creeps up now and then after a warm-up (more often on a loaded machine), and each step allocates a
        // whole buffer (128 KiB is 6.5 bytes per command of this run): growth, not a per-command cost. So the
        // pool first gets more buffers than this queue depth can hold (a command's buffer, and qemu's GET LBA
        // STATUS before each read, 4 KiB), returned at once.
        Prewarm(size, 4 * depth);
        Prewarm(4096, 4 * depth);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await Bench(write, count, size, depth);
        long after = GC.GetTotalAllocatedBytes(precise: true);
        double perCommand = (after - before) / (double)count;
        string what = $"{(write ? "write" : "read")} {size} B QD{depth}: {perCommand:0.0} bytes allocated per command ({after - before} bytes over {count} commands, one connection's setup included)";
        output.WriteLine(what);

        // The budget leaves room for what one connection allocates once (its send batch and receive buffer,
        // 320 KiB: 16 bytes per command here) and for per-batch and timer allocations that are not per command.
        if (perCommand >= 64)
        {
            // What allocated, from a second run with the runtime's allocation samples. Only then: listening to
            // the runtime's GC events allocates for every event (about 30 bytes per command of a 128 KiB read
            // run, where collections are frequent), so the probe must not be on during the measured run.
            var probe = new AllocProbe();
            await Bench(write, count, size, depth);
            probe.Dispose();
            var sampled = string.Join(", ", probe.Types.OrderByDescending(k => k.Value).Take(12).Select(kv => $"{kv.Value} x {kv.Key}"));
            Assert.Fail($"{what}; allocation samples (one per ~100 KB) of a second run: {sampled}");
        }
    }

    private static void Prewarm(int size, int buffers)
    {
        var rented = new byte[buffers][];
        for (int i = 0; i < buffers; i++)
        {
            rented[i] = PinnedBufferPool.Shared.Rent(size);
        }

        foreach (var b in rented)
        {
            PinnedBufferPool.Shared.Return(b);
        }
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
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        }
        catch (TimeoutException)
        {
            process.Kill();
            await process.WaitForExitAsync();
            Assert.Fail($"qemu-img {string.Join(' ', args)} did not finish in 2 minutes: {await stdout}{await stderr}");
        }

        Assert.True(process.ExitCode == 0, $"qemu-img {string.Join(' ', args)} failed with exit code {process.ExitCode}: {await stdout}{await stderr}");
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _device.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
