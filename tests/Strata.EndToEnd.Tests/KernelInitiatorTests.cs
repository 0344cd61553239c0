using System.Text.RegularExpressions;
using Strata.EndToEnd.Tests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Strata.EndToEnd.Tests;

/// <summary>Builds the guest image once for every test in the class.</summary>
public sealed class GuestImageFixture : IAsyncLifetime
{
    private readonly Scratch _scratch = new("guest");
    private readonly List<string> _log = [];
    private Task<GuestImage>? _image;

    public Task<GuestImage> Image => _image ??= GuestImage.BuildAsync(_scratch.Path, _log.Add);
    public string BuildLog => string.Join("\n", _log);

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _scratch.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>The Linux kernel's own initiator (open-iscsi's iscsistart, iscsi_tcp, sd) in a Debian kernel booted
/// under qemu (TCG), in a network namespace of the test's own, against a target in the same namespace.</summary>
public sealed partial class KernelInitiatorTests(GuestImageFixture guest, ITestOutputHelper output) : IClassFixture<GuestImageFixture>, IDisposable
{
    private static readonly TimeSpan s_vmTimeout = TimeSpan.FromMinutes(4);
    private readonly Action<string> _log = new TestLog(output).Line;
    private readonly Scratch _scratch = new("kernel");

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [MemberData(nameof(Targets.Both), MemberType = typeof(Targets))]
    public async Task Linux_logs_in_sees_discard_and_write_back_cache_and_keeps_filesystem_data(string kind)
    {
        var image = await guest.Image;
        _log(guest.BuildLog);
        await using var netns = await Netns.CreateAsync(_log);
        await using var target = await TargetExtensions.StartAsync(kind,
            new TargetOptions { File = _scratch.File("kernel-lun.img"), Host = Netns.HostAddress, Netns = netns }, _log);

        string append = $"console=ttyS0 panic=-1 quiet strata.iqn={target.Iqn} strata.addr={target.Host} strata.port={target.Port}";
        string serial;
        await using (var vm = netns.Start("qemu", "qemu-system-x86_64",
        [
            "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
            "-kernel", image.Kernel, "-initrd", image.Initrd, "-append", append,
            "-netdev", $"tap,id=n0,ifname={Netns.Tap},script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0",
        ]))
        {
            bool exited = await vm.WaitForExitAsync(s_vmTimeout);
            serial = vm.Output;
            await File.WriteAllTextAsync(Artifacts.PathFor($"kernel-initiator-{kind}-serial.log"), serial);
            Assert.True(exited, $"the guest did not power off within {s_vmTimeout.TotalMinutes} minutes\n{Text.Tail(serial, 8000)}\n{target.Describe()}");
        }

        var markers = Markers().Matches(serial).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Trim());
        _log("guest markers:\n" + string.Join("\n", markers.Select(kv => $"  {kv.Key} = {kv.Value}")));
        string context = $"\n--- serial console ---\n{Text.Tail(serial, 8000)}\n--- target ---\n{Text.Tail(target.Describe(), 8000)}";

        Assert.True(markers.ContainsKey("boot"), "the guest's /init never ran" + context);
        Assert.True(markers.GetValueOrDefault("login") == "0", "iscsistart could not log in" + context);
        Assert.True(!markers.ContainsKey("fail"), $"the guest gave up at: {markers.GetValueOrDefault("fail")}" + context);
        Assert.True(markers.GetValueOrDefault("disks") == "sda", $"expected exactly one SCSI disk, sda; the guest saw: {markers.GetValueOrDefault("disks")}" + context);
        Assert.True(markers.GetValueOrDefault("size_bytes") == (1L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"the kernel sized the disk {markers.GetValueOrDefault("size_bytes")} bytes" + context);
        Assert.True(long.TryParse(markers.GetValueOrDefault("discard_max_bytes"), out long discard) && discard > 0,
            $"the kernel will not discard on this LUN: discard_max_bytes = {markers.GetValueOrDefault("discard_max_bytes")}" + context);
        Assert.True(markers.GetValueOrDefault("write_cache") == "write back",
            $"the kernel sees no volatile write cache (so it sends no SYNCHRONIZE CACHE): write_cache = {markers.GetValueOrDefault("write_cache")}" + context);
        Assert.True(markers.GetValueOrDefault("mkfs") == "0", "mke2fs failed in the guest" + context);
        string? written = markers.GetValueOrDefault("sum_written");
        Assert.True(written is { Length: 64 }, "the guest wrote no data" + context);
        Assert.True(markers.GetValueOrDefault("sum_after_drop_caches") == written, "the data read back after dropping caches differs" + context);
        Assert.True(markers.GetValueOrDefault("sum_after_remount") == written, "the data read back after a remount differs" + context);
        Assert.True(markers.GetValueOrDefault("fsck") == "0", $"e2fsck -fn in the guest exited {markers.GetValueOrDefault("fsck")}" + context);
        Assert.True(markers.ContainsKey("done"), "the guest did not finish its script" + context);

        // What the kernel wrote is in the target's backing file: the host reads the file back out of the image.
        string dumped = _scratch.File("data-from-image");
        await Tool.RunCheckedAsync("debugfs", ["-R", $"dump /data {dumped}", target.BackingFile], TimeSpan.FromMinutes(1), log: _log);
        Assert.Equal(written, Text.Sha256File(dumped));
        var fsck = await Tool.RunAsync("e2fsck", ["-fn", target.BackingFile], TimeSpan.FromMinutes(2), log: _log);
        Assert.True(fsck.ExitCode == 0, "e2fsck -fn of the backing file:\n" + fsck.Describe());
    }

    [GeneratedRegex(@"STRATA-E2E (\w+)=([^\r\n]*)")]
    private static partial Regex Markers();
}
