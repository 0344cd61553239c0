using System.Diagnostics;
using System.Net.Sockets;
using Strata.Cli.Iscsi;
using Xunit;

namespace Strata.Cli.Tests;

public sealed class IscsiServeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("strata-cli-").FullName;

    [Theory]
    [InlineData("/data/volumes/pvc-1.img", "iqn.2026-11.io.strata:pvc-1")]
    [InlineData("/tmp/My Disk.raw", "iqn.2026-11.io.strata:my-disk")]
    [InlineData("/dev/loop3", "iqn.2026-11.io.strata:loop3")]
    public void The_default_IQN_is_named_after_the_file(string path, string iqn)
    {
        Assert.Equal(iqn, IscsiServeCommand.DefaultIqn(path));
    }

    [Theory]
    [InlineData("--size 1X", "--size")]
    [InlineData("--size 1G --block-size 1024", "block-size")]
    [InlineData("--size 1G --portal nowhere", "--portal")]
    [InlineData("--size 1G --chap-user u", "--chap-user and --chap-secret go together")]
    [InlineData("--size 1G --chap-user u --chap-secret s --mutual-chap-user m", "--mutual-chap-user and --mutual-chap-secret go together")]
    public async Task Bad_arguments_fail_with_a_message_naming_the_problem(string args, string expected)
    {
        var (code, _, error) = await StrataCli.RunAsync($"iscsi serve --file {Path.Combine(_dir, "x.img")} {args}");
        Assert.NotEqual(0, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "x.img")), "a refused command must not create the file");
    }

    [Fact]
    public async Task A_missing_file_without_a_size_is_a_clear_error()
    {
        string path = Path.Combine(_dir, "absent.img");
        var (code, _, error) = await StrataCli.RunAsync($"iscsi serve --file {path} --portal 127.0.0.1:0");
        Assert.Equal(1, code);
        Assert.Contains($"cannot open {path}", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_listens_and_stops_on_SIGTERM()
    {
        string path = Path.Combine(_dir, "lun.img");
        var psi = new ProcessStartInfo(StrataCli.Executable, ["iscsi", "serve", "--file", path, "--size", "16M", "--portal", "127.0.0.1:0"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        try
        {
            string? line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotNull(line);
            Assert.Contains("serving iqn.2026-11.io.strata:lun LUN 0", line, StringComparison.Ordinal);
            var portal = System.Net.IPEndPoint.Parse(line[(line.LastIndexOf(' ') + 1)..]);
            using (var client = new TcpClient())
            {
                await client.ConnectAsync(portal);
            }

            Assert.Equal(16L << 20, new FileInfo(path).Length);
            Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]).WaitForExit();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
