using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Strata.Blocks;
using Strata.Iscsi.Login;
using Strata.Iscsi.Scsi;
using Strata.Iscsi.Target;

namespace Strata.Iscsi.Tests.Scsi;

/// <summary>
/// libiscsi's conformance suite (iscsi-test-cu, Debian libiscsi-bin) against the real transport and
/// <see cref="ScsiTargetDevice"/> over a sparse file, two sessions so the multipath tests run too. Needs the
/// tool on PATH (bin/test installs libiscsi-bin); without it the test fails.
/// </summary>
public sealed partial class LibiscsiConformanceTests : IAsyncLifetime
{
    private const string Iqn = "iqn.2026-11.io.strata:conformance";
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-scsi-").FullName;
    private FileBlockDevice _device = null!;
    private SparseFileAllocationMap _map = null!;
    private IscsiTargetServer _server = null!;

    public Task InitializeAsync()
    {
        string path = Path.Combine(_dir, "lun.img");
        _device = FileBlockDevice.Open(path, 256L << 20);
        _map = new SparseFileAllocationMap(path, _device.BlockSize);
        var unit = new BlockLogicalUnit(_device, new LogicalUnitIdentity("conformance"), _map);
        _server = new IscsiTargetServer(new IscsiTargetOptions { Portal = new IPEndPoint(IPAddress.Loopback, 0) });
        _server.AddTarget(new IscsiTarget(new TargetLoginPolicy { Name = Iqn }, new ScsiTargetDevice([(0UL, unit)])));
        _server.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _map.Dispose();
        await _device.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Scsi_tests_of_iscsi_test_cu_all_pass()
    {
        // bin/test installs libiscsi-bin; a machine without it fails here rather than passing without a run.
        string? tool = FindOnPath("iscsi-test-cu");
        Assert.True(tool is not null, "iscsi-test-cu is not on PATH: install libiscsi-bin (bin/test does)");

        string url = $"iscsi://127.0.0.1:{_server.LocalEndPoint!.Port}/{Iqn}/0";
        var start = new ProcessStartInfo(tool, ["--dataloss", "-t", "SCSI.*", url, url])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();

        // It takes well under a minute alone, a few on a loaded machine; the deadline is only a safety net.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"iscsi-test-cu did not finish in 10 minutes; its output so far:\n{await stdout}{await stderr}");
        }

        string output = await stdout + await stderr;
        var summary = TestsLine().Match(output);
        Assert.True(summary.Success, $"iscsi-test-cu (exit code {process.ExitCode}) printed no CUnit summary:\n{output}");
        int total = int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        int failed = int.Parse(summary.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(total > 200, $"iscsi-test-cu ran only {total} tests:\n{output}");
        var failures = output.Split('\n').Where(l => l.Contains("FAILED", StringComparison.Ordinal) || l.Contains("[SKIPPED]", StringComparison.Ordinal)).Take(40);
        Assert.True(failed == 0, $"{failed} of {total} iscsi-test-cu tests failed:\n{string.Join('\n', failures)}\n\nwhole output:\n{output}");
        Assert.DoesNotContain("is not implemented", output, StringComparison.Ordinal);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':')
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    [GeneratedRegex(@"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)")]
    private static partial Regex TestsLine();
}
