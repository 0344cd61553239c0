using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>`strata iscsi serve` as a process: it says when it listens, stops cleanly on SIGTERM with a client
/// connected, and serves the same data when started again on the same file and port.</summary>
public sealed class StrataProcessTests(ITestOutputHelper output) : IDisposable
{
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("process");

    public void Dispose() => _scratch.Dispose();

    [Fact]
    public async Task Serve_announces_itself_stops_on_SIGTERM_and_serves_the_same_data_after_a_restart()
    {
        await using var target = await StrataTarget.StartAsync(new TargetOptions { File = _scratch.File("proc-lun.img"), SizeBytes = 64L << 20 }, _log);
        await Wait.UntilAsync(() => target.Process.StdoutLines.Count > 0, TimeSpan.FromSeconds(10),
            "strata to print a line to stdout once it listens", target.Describe);
        _log("strata said: " + target.Process.StdoutLines[0]);
        Assert.Contains(target.Iqn, target.Process.StdoutLines[0], StringComparison.Ordinal);

        var timeout = TimeSpan.FromMinutes(1);
        await Tool.RunCheckedAsync("qemu-io", ["-f", "raw", "-t", "none", "-c", "write -P 0x5a 1M 1M", "-c", "flush", target.Url()], timeout, log: _log);

        // A client stays logged in while the target is asked to stop.
        await using var client = Tool.Start("qemu-nbd", "qemu-nbd", ["-t", "-f", "raw", "-k", _scratch.File("sock"), target.Url()], log: _log);
        await Wait.UntilAsync(() => File.Exists(_scratch.File("sock")), timeout, "qemu-nbd to log in", client.Describe);
        int exitCode = await target.StopAsync(TimeSpan.FromSeconds(10));
        Assert.True(exitCode == 0, $"strata exited {exitCode} on SIGTERM\n{target.Describe()}");

        await target.RestartAsync();
        var read = await Tool.RunAsync("qemu-io", ["-f", "raw", "-t", "none", "-c", "read -P 0x5a 1M 1M", "-c", "read -P 0 0 1M", target.Url()], timeout, log: _log);
        Assert.True(read.Succeeded && !read.Stdout.Contains("Pattern verification failed", StringComparison.Ordinal),
            "after the restart the data differs:\n" + read.Describe() + "\n" + target.Describe());
    }
}
